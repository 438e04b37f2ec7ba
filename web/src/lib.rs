//! The browser dashboard's static files: plain HTML, CSS and JavaScript
//! modules, no bundler, nothing fetched from another site.
//!
//! A release build embeds them, so serving the dashboard needs no file on
//! disk. A debug build reads them from this crate's `static/` at each
//! request instead (nothing is embedded, so cargo does not track them): an
//! edited script shows on the next reload without recompiling the server.
//!
//! `index.html` is served at `/` and loads everything else from `static/`;
//! `app.js` is the entry module and imports the others by relative path, so
//! a file added under `static/` must also be listed in [`FILES`].

use std::borrow::Cow;

/// One file of the dashboard.
#[derive(Debug, Clone)]
pub struct Asset {
    pub body: Cow<'static, str>,
    pub content_type: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Lists the files once: their names and types for every build, and their
/// bodies embedded for a release build only.
macro_rules! files {
    ($(($name:literal, $content_type:expr)),* $(,)?) => {
        /// Every file of the dashboard, by path relative to `static/`.
        pub const FILES: &[(&str, &str)] = &[$(($name, $content_type)),*];

        #[cfg(not(debug_assertions))]
        const EMBEDDED: &[&str] = &[$(include_str!(concat!("../static/", $name))),*];
    };
}

files![
    ("index.html", HTML),
    ("style.css", CSS),
    ("app.js", JS),
    ("activity.js", JS),
    ("alerts.js", JS),
    ("api.js", JS),
    ("chart.js", JS),
    ("connection.js", JS),
    ("dom.js", JS),
    ("fleet.js", JS),
    ("format.js", JS),
    ("host.js", JS),
    ("range.js", JS),
    ("silences.js", JS),
    ("store.js", JS),
];

/// Where a debug build reads the files from.
#[cfg(debug_assertions)]
pub const STATIC_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/static/");

/// The `Content-Security-Policy` the dashboard is written for: its own
/// scripts and styles only, no inline script, connections only back to the
/// server. Host names and labels are untrusted, and this is the second line
/// of defence should one ever reach the page as markup.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The file at `path` (relative to `static/`), if the dashboard has it.
/// Only the listed files are served, whatever else `static/` holds.
pub fn asset(path: &str) -> Option<Asset> {
    let index = FILES.iter().position(|(name, _)| *name == path)?;
    Some(Asset {
        body: body(index)?,
        content_type: FILES[index].1,
    })
}

#[cfg(not(debug_assertions))]
fn body(index: usize) -> Option<Cow<'static, str>> {
    Some(Cow::Borrowed(EMBEDDED[index]))
}

/// Read at each request; a file gone from the source tree is a 404.
#[cfg(debug_assertions)]
fn body(index: usize) -> Option<Cow<'static, str>> {
    let path = std::path::Path::new(STATIC_DIR).join(FILES[index].0);
    std::fs::read_to_string(path).ok().map(Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_file() -> impl Iterator<Item = (&'static str, Asset)> {
        FILES.iter().map(|(name, _)| {
            let asset = asset(name).unwrap_or_else(|| panic!("{name} is not served"));
            (*name, asset)
        })
    }

    #[test]
    fn the_page_and_its_files_are_served() {
        let index = asset("index.html").unwrap();
        assert!(index.body.contains("static/app.js") && index.body.contains("static/style.css"));
        assert_eq!(index.content_type, HTML);
        assert!(asset("app.js").is_some());
        assert!(asset("../Cargo.toml").is_none());
        assert!(asset("").is_none());
    }

    /// A file in `static/` left out of `FILES` would never be served; one
    /// listed but not there would not build (release) or be a 404 (debug).
    #[test]
    fn the_list_is_the_files_in_static() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/static");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        on_disk.sort();
        let mut listed: Vec<&str> = FILES.iter().map(|(name, _)| *name).collect();
        listed.sort();
        assert_eq!(on_disk, listed);
    }

    #[cfg(debug_assertions)]
    #[test]
    fn a_debug_build_serves_each_file_as_it_is_on_disk_with_its_type() {
        for (name, asset) in every_file() {
            let on_disk = std::fs::read_to_string(format!("{STATIC_DIR}{name}")).unwrap();
            assert!(matches!(asset.body, Cow::Owned(_)), "{name} was embedded");
            assert_eq!(asset.body, on_disk, "{name}");
            let by_extension = match name.rsplit('.').next() {
                Some("html") => HTML,
                Some("js") => JS,
                Some("css") => CSS,
                other => panic!("{name}: no type for {other:?}"),
            };
            assert_eq!(asset.content_type, by_extension, "{name}");
        }
    }

    /// A module imported by another but missing from `FILES` would be a 404
    /// in the browser and a blank page.
    #[test]
    fn every_imported_module_is_served() {
        for (name, asset) in every_file() {
            for line in asset.body.lines().filter(|l| l.starts_with("import ")) {
                let target = line
                    .split("\"./")
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                    .unwrap_or_else(|| panic!("{name}: cannot read the import {line:?}"));
                assert!(
                    super::asset(target).is_some(),
                    "{name} imports {target}, which is not listed in FILES"
                );
            }
        }
    }

    /// Untrusted text must never be parsed as HTML; `dom.js` writes text
    /// through `textContent` instead.
    #[test]
    fn no_script_parses_html() {
        for (name, asset) in every_file().filter(|(n, _)| n.ends_with(".js")) {
            for banned in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
            ] {
                assert!(!asset.body.contains(banned), "{name} uses {banned}");
            }
        }
    }
}
