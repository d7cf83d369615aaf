//! Pages for a real browser (`/page/{name}`): what the browser checks load through the
//! proxy and directly. Small, fixed and served from the binary, so the two paths load the
//! very same bytes.
//!
//! The hosts in them are fixed demo names (the proxy resolves every name to the origin):
//! `exam-leaks.test` is denied for every group of the demo policy, `api-allowed.example`
//! and `cdn-allowed.example` are uncategorised and allowed.

/// A page the origin serves under `/page/{name}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// `/page/app`: an allowed web app's page, the context the checks' scripts run in.
    App,
    /// `/page/subresources`: allowed and blocked `<img>`, `<script>` and `<iframe>`; the
    /// page records in `window.results` which loaded and which failed.
    Subresources,
    /// `/page/pixel.png`: a 1x1 PNG.
    Pixel,
    /// `/page/script.js`: a script that marks itself loaded.
    Script,
    /// `/page/load`: the browser load class's page: a stylesheet, a script, [`LOAD_IMAGES`]
    /// images and, from the script, one cross-origin XHR.
    Load,
    /// `/page/load.css`: the load page's stylesheet.
    LoadStyle,
    /// `/page/load.js`: the load page's script; it sends the XHR and sets
    /// `window.xhrDone` when the answer is in.
    LoadScript,
}

/// Images on the load page (`/page/pixel.png?n=K`, K = 1..=LOAD_IMAGES: distinct URLs,
/// so each is its own request).
pub const LOAD_IMAGES: u32 = 8;

/// Subresources the load page makes: stylesheet, script, images and the XHR.
pub const LOAD_SUBRESOURCES: u32 = LOAD_IMAGES + 3;

impl Page {
    /// The page named `name`, if there is one.
    pub fn named(name: &str) -> Option<Page> {
        Some(match name {
            "app" => Page::App,
            "subresources" => Page::Subresources,
            "pixel.png" => Page::Pixel,
            "script.js" => Page::Script,
            "load" => Page::Load,
            "load.css" => Page::LoadStyle,
            "load.js" => Page::LoadScript,
            _ => return None,
        })
    }

    /// Content type and body.
    pub fn content(self) -> (&'static str, &'static [u8]) {
        match self {
            Page::App => ("text/html; charset=utf-8", APP.as_bytes()),
            Page::Subresources => ("text/html; charset=utf-8", SUBRESOURCES.as_bytes()),
            Page::Pixel => ("image/png", PIXEL),
            Page::Script => ("text/javascript", SCRIPT.as_bytes()),
            Page::Load => ("text/html; charset=utf-8", LOAD.as_bytes()),
            Page::LoadStyle => ("text/css", LOAD_STYLE.as_bytes()),
            Page::LoadScript => ("text/javascript", LOAD_SCRIPT.as_bytes()),
        }
    }
}

const APP: &str = "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>School app</title>\
</head><body><h1>School app</h1><p id=\"status\">ready</p></body></html>\n";

/// Every element reports into `window.results`; `load` fires once all of them settled.
const SUBRESOURCES: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Subresources</title>
<script>
window.results = {};
function mark(name, outcome) { window.results[name] = outcome; }
</script>
<script src="//exam-leaks.test/page/script.js" onload="mark('blocked_script','loaded')" onerror="mark('blocked_script','error')"></script>
<script src="//cdn-allowed.example/page/script.js" onload="mark('allowed_script','loaded')" onerror="mark('allowed_script','error')"></script>
</head><body>
<h1>Subresources</h1>
<img id="blocked_img" src="//exam-leaks.test/page/pixel.png" onload="mark('blocked_img','loaded')" onerror="mark('blocked_img','error')">
<img id="allowed_img" src="//cdn-allowed.example/page/pixel.png" onload="mark('allowed_img','loaded')" onerror="mark('allowed_img','error')">
<iframe id="blocked_frame" src="//exam-leaks.test/page/app" onload="mark('blocked_frame','loaded')"></iframe>
<p id="after">the rest of the page</p>
</body></html>
"#;

/// The load page; the images are listed in full so the page is plain HTML (no script
/// adds requests the parser would not see).
const LOAD: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Load</title>
<link rel="stylesheet" href="/page/load.css">
<script src="/page/load.js"></script>
</head><body>
<h1>Timetable</h1>
<img src="/page/pixel.png?n=1" alt=""><img src="/page/pixel.png?n=2" alt="">
<img src="/page/pixel.png?n=3" alt=""><img src="/page/pixel.png?n=4" alt="">
<img src="/page/pixel.png?n=5" alt=""><img src="/page/pixel.png?n=6" alt="">
<img src="/page/pixel.png?n=7" alt=""><img src="/page/pixel.png?n=8" alt="">
<p id="after">the rest of the page</p>
</body></html>
"#;

const LOAD_STYLE: &str = "body { font-family: sans-serif; margin: 2em; }\n\
img { width: 16px; height: 16px; margin: 2px; }\n";

/// One cross-origin XHR to an allowed API, as a web app's first data call.
const LOAD_SCRIPT: &str = "window.xhrDone = false;\n\
(function () {\n\
  var x = new XMLHttpRequest();\n\
  x.open('GET', 'http://api-allowed.example/api/cors?load=1');\n\
  x.onloadend = function () { window.xhrDone = true; window.xhrStatus = x.status; };\n\
  x.send();\n\
})();\n";

const SCRIPT: &str = "window.scriptRuns = (window.scriptRuns || 0) + 1;\n";

/// A valid 1x1 transparent PNG.
const PIXEL: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_is_named_and_the_pixel_is_a_png() {
        for (name, page) in [
            ("app", Page::App),
            ("subresources", Page::Subresources),
            ("pixel.png", Page::Pixel),
            ("script.js", Page::Script),
            ("load", Page::Load),
            ("load.css", Page::LoadStyle),
            ("load.js", Page::LoadScript),
        ] {
            assert_eq!(Page::named(name), Some(page));
        }
        assert_eq!(Page::named("nope"), None);
        let (kind, png) = Page::Pixel.content();
        assert_eq!(kind, "image/png");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.ends_with(b"IEND\xae\x42\x60\x82"));
    }

    #[test]
    fn the_load_page_names_every_image_once() {
        for n in 1..=LOAD_IMAGES {
            let src = format!("src=\"/page/pixel.png?n={n}\"");
            assert_eq!(LOAD.matches(&src).count(), 1, "{src}");
        }
        assert_eq!(LOAD.matches("<img ").count() as u32, LOAD_IMAGES);
    }
}
