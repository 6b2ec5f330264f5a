//! The store's files build on lower ones only: no file imports, through any chain, a file that
//! imports it back. Read from the source, so a new `use crate::…` that closes a loop fails here
//! with the loop named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("source folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `incidents/rows.rs` → `incidents::rows`; `privacy/mod.rs` → `privacy`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file
        .strip_prefix(src)
        .expect("inside src")
        .with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts.join("::")
}

/// The store's modules each file names through `crate::…` paths (comments left out).
fn imports(text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = BTreeSet::new();
    let mut add = |path: &str| {
        let parts: Vec<&str> = path.split("::").collect();
        for n in (1..=parts.len()).rev() {
            let candidate = parts[..n].join("::");
            if modules.contains(&candidate) {
                out.insert(candidate);
                return;
            }
        }
    };
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            inner
                .split(',')
                .map(str::trim)
                .for_each(|item| add(item.split(&[' ', '{'][..]).next().unwrap_or(item)));
        } else {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            add(rest[..end].trim_end_matches(':'));
        }
    }
    out
}

/// Each store module and the modules it names, read from the source.
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut graph = BTreeMap::new();
    for f in &files {
        let module = module_of(&src, f);
        let mut deps = imports(&std::fs::read_to_string(f).expect("read"), &modules);
        deps.remove(&module);
        deps.remove("lib");
        graph.insert(module, deps);
    }
    graph
}

#[test]
fn no_store_file_imports_one_that_imports_it_back() {
    let graph = import_graph();
    assert!(graph["replies"].contains("chat"), "the reader sees imports");
    // A depth-first walk that reports the first loop it meets.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if let Some(at) = path.iter().position(|p| p == m) {
            panic!("import loop: {} -> {m}", path[at..].join(" -> "));
        }
        if done.contains(m) {
            return;
        }
        path.push(m.to_string());
        for d in graph.get(m).into_iter().flatten() {
            visit(d, graph, path, done);
        }
        path.pop();
        done.insert(m.to_string());
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        visit(m, &graph, &mut Vec::new(), &mut done);
    }
}

#[test]
fn the_procedure_reaches_people_and_units_only_through_replies() {
    let graph = import_graph();
    for step in ["incidents", "incidents::rows"] {
        for channel in ["chat", "email"] {
            assert!(
                !graph[step].contains(channel),
                "{step} names {channel}: send through `replies` instead"
            );
        }
    }
    assert!(graph["incidents"].contains("replies"));
}

#[test]
fn every_audit_action_the_store_records_has_words_for_a_reader() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut missing = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("source");
        // Every string literal shaped `entity.verb` whose entity is something audited.
        for literal in text.split('"').skip(1).step_by(2) {
            let Some((entity, verb)) = literal.split_once('.') else {
                continue;
            };
            let audited = [
                "article",
                "call",
                "contact",
                "incident",
                "mailbox",
                "nonconformity",
                "privacy_notice",
                "questionnaire",
                "setting",
                "survey",
                "token",
                "topic",
                "unit",
                "user",
            ];
            let word =
                |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '_');
            if !audited.contains(&entity) || !word(verb) {
                continue;
            }
            let lang = atiende_domain::classification::Lang::Es;
            if atiende_domain::audit::action_label(literal, lang) == "Cambio" {
                missing.insert(literal.to_string());
            }
        }
    }
    assert!(missing.is_empty(), "no words for {missing:?}");
}
