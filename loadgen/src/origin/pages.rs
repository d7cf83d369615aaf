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
}

impl Page {
    /// The page named `name`, if there is one.
    pub fn named(name: &str) -> Option<Page> {
        Some(match name {
            "app" => Page::App,
            "subresources" => Page::Subresources,
            "pixel.png" => Page::Pixel,
            "script.js" => Page::Script,
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
        ] {
            assert_eq!(Page::named(name), Some(page));
        }
        assert_eq!(Page::named("nope"), None);
        let (kind, png) = Page::Pixel.content();
        assert_eq!(kind, "image/png");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.ends_with(b"IEND\xae\x42\x60\x82"));
    }
}
