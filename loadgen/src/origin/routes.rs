//! Request routing of the test origin: which endpoint a path names.
//!
//! Requests arrive for any host and, through the proxy, under whatever path
//! prefix a category entry needs (`/games/bytes/1024`), so the endpoint is read
//! from the END of the path. Parsing borrows the path: no allocation.

use super::pages::Page;

/// Prefix of the origin's own admin routes (never subject to faults).
pub const ADMIN_PREFIX: &str = "/__origin/";

/// Largest body `/bytes/{n}` and `/stream/{n}` serve (1 GiB).
pub const MAX_BODY: u64 = 1 << 30;

/// Longest `/delay/{ms}` (60 s).
pub const MAX_DELAY_MS: u64 = 60_000;

/// An endpoint of the origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/bytes/{n}`: n bytes of the fixed payload, with Content-Length.
    Bytes(u64),
    /// `/stream/{n}`: n bytes, chunked transfer encoding.
    Stream(u64),
    /// `/delay/{ms}`: a small answer after ms milliseconds.
    Delay(u64),
    /// `/status/{code}`: an answer with that status.
    Status(u16),
    /// `/echo/headers`: JSON of the request headers.
    EchoHeaders,
    /// `/cors`: CORS preflights and simple requests.
    Cors,
    /// `/reset`: the connection is closed without an answer.
    Reset,
    /// `/page/{name}`: a page for the browser checks ([`Page`]).
    Page(Page),
    /// `/__origin/faults`: read or change fault injection.
    AdminFaults,
    /// `/`: a tiny fixed answer.
    Root,
    /// Anything else, or an argument out of range.
    NotFound,
}

/// Reads the endpoint from a request path.
pub fn parse(path: &str) -> Route {
    if let Some(rest) = path.strip_prefix(ADMIN_PREFIX) {
        return if rest == "faults" {
            Route::AdminFaults
        } else {
            Route::NotFound
        };
    }
    if path == "/" || path.is_empty() {
        return Route::Root;
    }
    let path = path.strip_suffix('/').unwrap_or(path);
    let Some((head, last)) = path.rsplit_once('/') else {
        return Route::NotFound;
    };
    if head.ends_with("/page") {
        return Page::named(last).map_or(Route::NotFound, Route::Page);
    }
    match last {
        "cors" => return Route::Cors,
        "reset" => return Route::Reset,
        "headers" if head.ends_with("/echo") => return Route::EchoHeaders,
        _ => {}
    }
    let keyword = head.rsplit_once('/').map_or(head, |(_, k)| k);
    let Ok(arg) = last.parse::<u64>() else {
        return Route::NotFound;
    };
    match keyword {
        "bytes" if arg <= MAX_BODY => Route::Bytes(arg),
        "stream" if arg <= MAX_BODY => Route::Stream(arg),
        "delay" if arg <= MAX_DELAY_MS => Route::Delay(arg),
        "status" if (200..=599).contains(&arg) => Route::Status(arg as u16),
        _ => Route::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_read_from_the_end_of_the_path() {
        assert_eq!(parse("/bytes/1024"), Route::Bytes(1024));
        assert_eq!(parse("/games/bytes/10"), Route::Bytes(10));
        assert_eq!(parse("/stream/5"), Route::Stream(5));
        assert_eq!(parse("/delay/20"), Route::Delay(20));
        assert_eq!(parse("/status/503"), Route::Status(503));
        assert_eq!(parse("/status/99"), Route::NotFound);
        assert_eq!(parse("/a/b/echo/headers"), Route::EchoHeaders);
        assert_eq!(parse("/x/cors"), Route::Cors);
        assert_eq!(parse("/reset"), Route::Reset);
        assert_eq!(parse("/page/app"), Route::Page(Page::App));
        assert_eq!(parse("/x/page/pixel.png"), Route::Page(Page::Pixel));
        assert_eq!(parse("/page/other"), Route::NotFound);
        assert_eq!(parse("/__origin/faults"), Route::AdminFaults);
        assert_eq!(parse("/"), Route::Root);
        assert_eq!(parse("/bytes/abc"), Route::NotFound);
        assert_eq!(parse("/nothing"), Route::NotFound);
    }
}
