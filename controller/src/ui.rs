//! The sealing page (`--ui`): a page served at `/` that seals in the browser with WebCrypto, so
//! the plaintext never reaches the controller. Its assets are compiled into the binary; the page
//! asks only this server for the certificate and `/v1/verify`, which a strict Content-Security-Policy
//! enforces in the browser.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

const INDEX: &str = include_str!("../ui/index.html");
const APP_JS: &str = include_str!("../ui/app.js");
const YAML_JS: &str = include_str!("../ui/yaml.js");
const APP_CSS: &str = include_str!("../ui/app.css");

/// The policy of the served page: its own scripts and styles only, requests only to this
/// server, no frames, no forms, no base URL change.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The policy the single-file page carries in a `<meta>` tag (its script and style are inline;
/// nothing is fetched from anywhere but its own origin).
const SINGLE_FILE_CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'";

/// The page's routes, or none when `enabled` is false (`--ui=false`).
pub fn router<S: Clone + Send + Sync + 'static>(enabled: bool) -> Router<S> {
    if !enabled {
        return Router::new();
    }
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/ui/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/ui/yaml.js",
            get(|| async { asset("text/javascript; charset=utf-8", YAML_JS) }),
        )
        .route(
            "/ui/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
        .route(
            "/sealing-page.html",
            get(|| async { single_file_download() }),
        )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn single_file_download() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"sealing-page.html\"",
            ),
            // Never rendered from here: it is meant to be saved and opened from disk.
            (
                header::CONTENT_SECURITY_POLICY,
                "sandbox; default-src 'none'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        single_file(),
    )
        .into_response()
}

/// The page as one self-contained HTML file: stylesheet and scripts inlined, with its policy in
/// a `<meta>` tag (a file opened from disk gets no headers).
pub fn single_file() -> String {
    let script = |js: &str| format!("<script>\n{}</script>", js.replace("</", "<\\/"));
    INDEX
        .replace(
            "<!--SINGLE-FILE-CSP-->",
            &format!("<meta http-equiv=\"Content-Security-Policy\" content=\"{SINGLE_FILE_CSP}\">"),
        )
        .replace(
            "<link rel=\"stylesheet\" href=\"ui/app.css\">",
            &format!("<style>\n{APP_CSS}</style>"),
        )
        .replace("<script src=\"ui/yaml.js\"></script>", &script(YAML_JS))
        .replace("<script src=\"ui/app.js\"></script>", &script(APP_JS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_single_file_inlines_every_asset_and_references_none() {
        let page = single_file();
        for reference in ["src=\"ui/", "href=\"ui/", "<!--SINGLE-FILE-CSP-->"] {
            assert!(!page.contains(reference), "{reference} left in the page");
        }
        assert!(page.contains("http-equiv=\"Content-Security-Policy\""));
        assert!(page.contains("function sealValue"), "app.js inlined");
        assert!(page.contains("const SealYaml"), "yaml.js inlined");
        // One opening and one closing tag per inlined script: no early end of a script block.
        assert_eq!(page.matches("<script>").count(), 2);
        assert_eq!(page.matches("</script>").count(), 2);
    }

    #[test]
    fn ui_is_on_by_default_and_takes_go_booleans() {
        use crate::flags::Flags;
        let ui = |args: &[&str]| {
            goflags::parse_without_env::<Flags, _, _>(args)
                .map(|f| f.ui)
                .ok()
        };
        assert_eq!(ui(&["c"]), Some(true));
        assert_eq!(ui(&["c", "--ui"]), Some(true));
        assert_eq!(ui(&["c", "--ui=false"]), Some(false));
        assert_eq!(ui(&["c", "--ui=0"]), Some(false));
        assert_eq!(ui(&["c", "--ui=maybe"]), None);
    }

    #[test]
    fn the_served_page_loads_only_its_own_assets() {
        for needle in ["http://", "https://", "//cdn", "@import"] {
            for (name, text) in [
                ("index.html", INDEX),
                ("app.js", APP_JS),
                ("yaml.js", YAML_JS),
                ("app.css", APP_CSS),
            ] {
                assert!(!text.contains(needle), "{name} mentions {needle}");
            }
        }
        assert!(CSP.contains("connect-src 'self'") && !CSP.contains("unsafe"));
    }
}
