use std::path::Path;

use super::test_pki::write as pki;
use super::*;

#[test]
fn a_matching_certificate_and_key_load() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = pki(dir.path());
    let tls = ServerTls::load(&cert, &key).unwrap();
    assert_eq!(tls.cert_file(), cert);
    assert!(
        !format!("{tls:?}").contains("PRIVATE"),
        "the key never shows in Debug"
    );
    assert_eq!(
        ClientTls::from_ca_file(&ca).unwrap().ca_file(),
        Some(ca.as_path())
    );
}

#[test]
fn bad_files_are_refused_naming_the_file_and_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, key) = pki(dir.path());
    let other = tempfile::tempdir().unwrap();
    let (_, _, other_key) = pki(other.path());
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let missing = dir.path().join("missing.pem");

    let cases: [(&Path, &Path, &str); 5] = [
        (&missing, &key, "cannot read"),
        (&garbage, &key, "no PEM certificate found in"),
        (&cert, &garbage, "no PEM private key found in"),
        (&key, &key, "no PEM certificate found in"),
        (&cert, &other_key, "does not match the certificate"),
    ];
    for (c, k, want) in cases {
        let text = ServerTls::load(c, k).unwrap_err().to_string();
        assert!(text.contains(want), "{text}");
        let named = if want.contains("key") && !want.contains("match") {
            k
        } else {
            c
        };
        assert!(text.contains(&named.display().to_string()), "{text}");
        assert!(!text.ends_with('.'), "{text}");
    }
    let text = ClientTls::from_ca_file(&garbage).unwrap_err().to_string();
    assert!(
        text.contains("no PEM certificate found in") && text.contains("garbage.pem"),
        "{text}"
    );
}
