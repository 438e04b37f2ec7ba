//! The browser dashboard's static files, embedded in the binary so serving it
//! needs no build step. Plain HTML, CSS and JavaScript: no bundler.

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    pub body: &'static str,
    pub content_type: &'static str,
}

/// The file at `path` (relative to `static/`), if the dashboard has it.
pub fn asset(path: &str) -> Option<Asset> {
    let (body, content_type) = match path {
        "index.html" => (
            include_str!("../static/index.html"),
            "text/html; charset=utf-8",
        ),
        "app.js" => (
            include_str!("../static/app.js"),
            "text/javascript; charset=utf-8",
        ),
        "style.css" => (
            include_str!("../static/style.css"),
            "text/css; charset=utf-8",
        ),
        _ => return None,
    };
    Some(Asset { body, content_type })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_and_its_files_are_embedded() {
        let index = super::asset("index.html").unwrap();
        assert!(index.body.contains("app.js") && index.body.contains("style.css"));
        assert!(super::asset("app.js").is_some());
        assert!(super::asset("../Cargo.toml").is_none());
    }
}
