//! The payloads recorded from the real GitHub, Jira and Jenkins, kept in
//! this crate's `tests/fixtures/real/` (its README.md gives each file's
//! origin and licence).

#![allow(dead_code)] // each test file uses a different part

use std::path::{Path, PathBuf};

/// The folder of one source's recordings.
pub fn fixtures_dir(source: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real");
    assert!(
        root.is_dir(),
        "real API fixtures not found at {} (they are tracked in the repository: is the checkout complete?)",
        root.display()
    );
    root.join(source)
}

/// File names of one source folder, sorted; the folder must not be empty.
pub fn files(source: &str) -> Vec<String> {
    let dir = fixtures_dir(source);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no fixtures in {}", dir.display());
    names
}

/// One recording's text.
pub fn read(source: &str, name: &str) -> String {
    let path = fixtures_dir(source).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Every recording of one source: (file name, text), sorted by name.
pub fn files_with_text(source: &str) -> Vec<(String, String)> {
    files(source)
        .into_iter()
        .map(|name| {
            let text = read(source, &name);
            (name, text)
        })
        .collect()
}
