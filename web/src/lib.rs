//! The browser dashboard's static files, embedded in the binary so serving it
//! needs no build step. Plain HTML, CSS and JavaScript modules: no bundler,
//! nothing fetched from another site.
//!
//! `index.html` is served at `/` and loads everything else from `static/`;
//! `app.js` is the entry module and imports the others by relative path, so
//! a file added under `static/` must also be listed in [`FILES`].

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    pub body: &'static str,
    pub content_type: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every file of the dashboard, by path relative to `static/`.
const FILES: &[(&str, &str, &str)] = &[
    ("index.html", include_str!("../static/index.html"), HTML),
    ("style.css", include_str!("../static/style.css"), CSS),
    ("app.js", include_str!("../static/app.js"), JS),
    ("activity.js", include_str!("../static/activity.js"), JS),
    ("alerts.js", include_str!("../static/alerts.js"), JS),
    ("api.js", include_str!("../static/api.js"), JS),
    ("chart.js", include_str!("../static/chart.js"), JS),
    ("connection.js", include_str!("../static/connection.js"), JS),
    ("dom.js", include_str!("../static/dom.js"), JS),
    ("fleet.js", include_str!("../static/fleet.js"), JS),
    ("format.js", include_str!("../static/format.js"), JS),
    ("host.js", include_str!("../static/host.js"), JS),
    ("range.js", include_str!("../static/range.js"), JS),
    ("silences.js", include_str!("../static/silences.js"), JS),
    ("store.js", include_str!("../static/store.js"), JS),
];

/// The `Content-Security-Policy` the dashboard is written for: its own
/// scripts and styles only, no inline script, connections only back to the
/// server. Host names and labels are untrusted, and this is the second line
/// of defence should one ever reach the page as markup.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The file at `path` (relative to `static/`), if the dashboard has it.
pub fn asset(path: &str) -> Option<Asset> {
    FILES
        .iter()
        .find(|(name, _, _)| *name == path)
        .map(|&(_, body, content_type)| Asset { body, content_type })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_and_its_files_are_embedded() {
        let index = asset("index.html").unwrap();
        assert!(index.body.contains("static/app.js") && index.body.contains("static/style.css"));
        assert!(asset("app.js").is_some());
        assert!(asset("../Cargo.toml").is_none());
    }

    /// A module imported by another but missing from `FILES` would be a 404
    /// in the browser and a blank page.
    #[test]
    fn every_imported_module_is_embedded() {
        for (name, body, _) in FILES {
            for line in body.lines().filter(|l| l.starts_with("import ")) {
                let target = line
                    .split("\"./")
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                    .unwrap_or_else(|| panic!("{name}: cannot read the import {line:?}"));
                assert!(
                    asset(target).is_some(),
                    "{name} imports {target}, which is not listed in FILES"
                );
            }
        }
    }

    /// Untrusted text must never be parsed as HTML; `dom.js` writes text
    /// through `textContent` instead.
    #[test]
    fn no_script_parses_html() {
        for (name, body, _) in FILES.iter().filter(|(n, _, _)| n.ends_with(".js")) {
            for banned in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
            ] {
                assert!(!body.contains(banned), "{name} uses {banned}");
            }
        }
    }
}
