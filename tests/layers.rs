//! The layers point one way (README, "Architecture"): `http` and the Socket.IO handlers call
//! `service`, which calls `store`, which calls `db`; `domain` and the other leaf modules sit
//! under all of them. This test reads every source file's `crate::` paths and fails when a
//! module imports one above it, or when two modules reach each other through any path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module and the modules it may not import (besides the cycle rule).
const FORBIDDEN: &[(&str, &[&str])] = &[
    ("domain", &["db", "store", "service", "state", "http", "realtime", "startup"]),
    ("error", &["db", "store", "service", "state", "http", "realtime", "startup"]),
    ("ids", &["db", "store", "service", "state", "http", "realtime", "startup"]),
    ("time", &["db", "store", "service", "state", "http", "realtime", "startup"]),
    ("validate", &["db", "store", "service", "state", "http", "realtime", "startup"]),
    ("db", &["store", "service", "state", "http", "realtime", "startup", "cache", "jobs", "mail"]),
    ("store", &["service", "state", "http", "realtime", "startup", "cache", "jobs", "mail"]),
    ("cache", &["service", "state", "http", "realtime", "startup"]),
    ("jobs", &["service", "state", "http", "realtime", "startup", "mail"]),
    ("mail", &["service", "state", "http", "realtime", "startup", "jobs"]),
    // The notifier is how services reach sockets; it knows nothing of the socket server.
    ("notify", &["db", "store", "service", "state", "http", "realtime", "startup", "cache", "jobs", "mail"]),
    // The state holds the notifier, never the socket server (startup owns that).
    ("state", &["service", "http", "realtime", "startup"]),
    ("service", &["http", "realtime", "startup"]),
    // Socket.IO handlers go through the services, like HTTP handlers.
    ("realtime", &["store", "db", "http", "startup"]),
];

/// Only the wiring may know about the HTTP layer.
const MAY_IMPORT_HTTP: &[&str] = &["startup"];

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

/// The source without comments (a path named in prose is not an import).
fn code_of(source: &str) -> String {
    source.lines().map(|line| line.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// The top-level modules a piece of code names through `crate::`, including the grouped form
/// `use crate::{a::X, b};`.
fn named_modules(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |s: &str| s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Names at the group's first level, each after `{` or a `,`.
            let mut depth = 1;
            let mut expect_name = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => expect_name = true,
                    c if expect_name && depth == 1 && (c.is_ascii_alphabetic() || c == '_') => {
                        found.insert(ident(&group[i..]));
                        expect_name = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// Top-level module -> the other top-level modules it imports.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.iter().next().unwrap().to_string_lossy().into_owned();
        // The binary uses the library by its name, never `crate::`.
        if first == "main.rs" || first == "lib.rs" {
            continue;
        }
        let module = first.trim_end_matches(".rs").to_string();
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        let entry = graph.entry(module.clone()).or_default();
        entry.extend(named_modules(&code).into_iter().filter(|m| *m != module && m != "self"));
    }
    graph
}

/// A path from `from` back to itself, if there is one.
fn cycle_through(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    fn walk(
        graph: &BTreeMap<String, BTreeSet<String>>,
        target: &str,
        at: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in graph.get(at).into_iter().flatten() {
            if next == target {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(graph, target, next, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![from.to_string()];
    walk(graph, from, from, &mut path, &mut BTreeSet::new()).then_some(path)
}

#[test]
fn the_parser_reads_every_form_of_crate_path() {
    let code = "use crate::{a::X, b, c::{d, e::F}};\nlet x = crate::g::h();\nuse crate::i;";
    let names: Vec<String> = named_modules(code).into_iter().collect();
    assert_eq!(names, ["a", "b", "c", "g", "i"]);
    assert!(named_modules(&code_of("// crate::http is only prose here")).is_empty());
}

#[test]
fn only_the_wiring_imports_http() {
    let graph = module_graph();
    assert!(graph.contains_key("http") && graph.contains_key("service"), "{graph:?}");
    let offenders: Vec<&String> = graph
        .iter()
        .filter(|(m, deps)| deps.contains("http") && !MAY_IMPORT_HTTP.contains(&m.as_str()))
        .map(|(m, _)| m)
        .collect();
    assert!(offenders.is_empty(), "modules below http import it: {offenders:?}");
}

#[test]
fn lower_layers_never_import_higher_ones() {
    let graph = module_graph();
    let mut violations = Vec::new();
    for (module, forbidden) in FORBIDDEN {
        for dep in graph.get(*module).into_iter().flatten() {
            if forbidden.contains(&dep.as_str()) {
                violations.push(format!("{module} -> {dep}"));
            }
        }
    }
    assert!(violations.is_empty(), "imports against the layers: {violations:?}");
}

#[test]
fn no_two_modules_import_each_other() {
    let graph = module_graph();
    let cycles: Vec<String> = graph.keys().filter_map(|m| cycle_through(&graph, m)).map(|c| c.join(" -> ")).collect();
    assert!(cycles.is_empty(), "import cycles between modules: {cycles:#?}");
}
