//! The crate's modules depend one way: `error ← engine ← text ← format ← segment ←
//! {writer, reader}`, and `fuzzing` beside `format`. Each top-level module may use only modules to its left (and itself);
//! `writer` and `reader` never use each other, and nothing reaches the crate root's
//! re-exports from inside. This reads every `crate::…` path in the code (comments and doc
//! links excluded) and fails on any that points the wrong way, so a cycle cannot creep in.
//!
//! Run it alone with `cargo test -p zoek-query --test layering`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each module with the modules it may use.
const LAYERS: &[(&str, &[&str])] = &[
    ("error", &[]),
    ("engine", &["error"]),
    ("text", &["error", "engine"]),
    ("format", &["error", "engine", "text"]),
    ("segment", &["error", "engine", "text", "format"]),
    ("writer", &["error", "engine", "text", "format", "segment"]),
    ("reader", &["error", "engine", "text", "format", "segment"]),
    // Entry points for the fuzz targets: loaders of the format, nothing above it.
    ("fuzzing", &["error", "format"]),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`src/writer/merge.rs` → `writer`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    Some(first.trim_end_matches(".rs").to_string())
}

/// The modules named by `crate::NAME` paths in the code of `text`, with line numbers.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let code = code.split(" //").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push((n + 1, name));
            }
            rest = after;
        }
        // `use crate::{a, b}` names several modules at once.
        if let Some(i) = code.find("crate::{") {
            let inner = &code[i + "crate::{".len()..];
            for part in inner.split([',', '}']) {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.push((n + 1, name));
                }
            }
        }
    }
    out
}

#[test]
fn modules_depend_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    let mut checked = 0;
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        if module == "lib" {
            continue;
        }
        let Some(may_use) = allowed.get(module.as_str()) else {
            violations.push(format!(
                "{}: module `{module}` is not in the layer table",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for (line, target) in crate_paths(&text) {
            checked += 1;
            if target == module || may_use.contains(&target.as_str()) {
                continue;
            }
            violations.push(format!(
                "{}:{line}: `{module}` uses `crate::{target}`",
                file.display()
            ));
        }
    }
    assert!(
        checked > 50,
        "only {checked} crate paths found: is the parser broken?"
    );
    assert!(
        violations.is_empty(),
        "dependencies pointing the wrong way:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_checker_sees_wrong_way_paths() {
    let paths = crate_paths(
        "use crate::reader::Collection;\n// use crate::writer::X;\nuse crate::{error, format::x};\n",
    );
    let names: Vec<&str> = paths.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["reader", "error", "format"]);
}
