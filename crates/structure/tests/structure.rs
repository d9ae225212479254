//! The workspace's structure, checked from its sources with std alone: no file-level
//! import cycle inside a crate, no module over [`MAX_LINES`] lines, and the HTTP crate
//! free of the outbound adapters' libraries (Argon2, JWT).
//!
//! Each file under `crates/*/src` is a module: `lib.rs`/`main.rs` is the crate root,
//! `a/mod.rs` and `a.rs` are `a`, `a/b.rs` is `a::b`. Test code is left out: files named
//! `tests.rs` or `testing.rs`, files under a `tests/` folder, a `#[cfg(test)] mod … { … }`
//! with everything after it, and any other `#[cfg(test)]` item on its own (so a
//! `#[cfg(test)] mod tests;` near the top hides nothing below it).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The most lines a module may have before its inline tests.
const MAX_LINES: usize = 420;

/// Libraries of outbound adapters that the HTTP crate must not depend on.
const FORBIDDEN_IN_API: [&str; 2] = ["argon2", "jsonwebtoken"];

/// The workspace's `crates/` folder.
fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

// ---------------------------------------------------------------------------------------
// Reading the sources
// ---------------------------------------------------------------------------------------

/// One token of code: an identifier (keywords included), `::`, or one punctuation char.
#[derive(Clone, Debug)]
struct Token {
    text: String,
    line: usize,
}

/// One source file of a crate.
struct SourceFile {
    /// The path shown in messages, relative to `crates/`: `api/src/auth.rs`.
    display: String,
    /// Its module path within the crate; empty for the root.
    module: Vec<String>,
    /// Whether it is test code, exempt from every check.
    is_test: bool,
    /// Its code, without comments, literals and test items.
    tokens: Vec<Token>,
    /// Its lines before the inline test module (all of them if it has none).
    counted_lines: usize,
}

/// One crate of the workspace and its source files.
struct Crate {
    name: String,
    files: Vec<SourceFile>,
}

/// Every crate under `crates/` that has a `src/` folder, with its files, in name order.
fn crates() -> Vec<Crate> {
    let mut crates = Vec::new();
    for dir in sorted_entries(&crates_dir()) {
        let src = dir.join("src");
        if !src.is_dir() {
            continue;
        }
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut paths = Vec::new();
        collect_rs(&src, &mut paths);
        let files = paths.iter().map(|path| read_source(&name, &src, path)).collect();
        crates.push(Crate { name, files });
    }
    assert!(crates.len() >= 3, "expected the workspace's crates under {}", crates_dir().display());
    crates
}

/// The entries of `dir`, sorted.
fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    let mut paths: Vec<PathBuf> = entries.map(|entry| entry.unwrap().path()).collect();
    paths.sort();
    paths
}

/// Every `.rs` file under `dir`, recursively.
fn collect_rs(dir: &Path, into: &mut Vec<PathBuf>) {
    for path in sorted_entries(dir) {
        if path.is_dir() {
            collect_rs(&path, into);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            into.push(path);
        }
    }
}

/// Reads `path`, a file of crate `krate` whose sources are in `src`.
fn read_source(krate: &str, src: &Path, path: &Path) -> SourceFile {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let relative: Vec<String> =
        path.strip_prefix(src).unwrap().components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    let file_name = relative.last().unwrap().as_str();
    let is_test = matches!(file_name, "tests.rs" | "testing.rs")
        || relative[..relative.len() - 1].iter().any(|dir| dir == "tests");
    let mut module: Vec<String> = relative.iter().map(|part| part.trim_end_matches(".rs").to_owned()).collect();
    if (module.len() == 1 && matches!(file_name, "lib.rs" | "main.rs")) || file_name == "mod.rs" {
        module.pop();
    }
    let (tokens, test_module_line) = strip_test_items(&tokenize(&text));
    let counted_lines = match test_module_line {
        Some(line) => line - 1,
        None => text.lines().count(),
    };
    SourceFile { display: format!("{krate}/src/{}", relative.join("/")), module, is_test, tokens, counted_lines }
}

/// The tokens of Rust source `src`, without comments, string and char literals, numbers
/// and lifetimes. `$crate` becomes `crate`.
fn tokenize(src: &str) -> Vec<Token> {
    let chars: Vec<char> = src.chars().collect();
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    let is_ident_start = |c: char| c.is_alphabetic() || c == '_';
    let mut tokens = Vec::new();
    let (mut i, mut line) = (0, 1);
    // Skips a quoted literal opening at `i` (escapes honoured), counting its newlines.
    let skip_quoted = |mut i: usize, line: &mut usize, quote: char| {
        i += 1;
        while i < chars.len() && chars[i] != quote {
            if chars[i] == '\\' {
                i += 1;
            }
            if at(i) == '\n' {
                *line += 1;
            }
            i += 1;
        }
        i + 1
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            loop {
                if at(i) == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if at(i) == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else if i >= chars.len() {
                    break;
                } else {
                    line += usize::from(chars[i] == '\n');
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_at(&chars, i) {
            // r"…", r#"…"#, br"…": skip to the quote followed by as many hashes.
            i = chars[i..].iter().position(|&ch| ch == '"').unwrap() + i + 1;
            while i < chars.len() && !(chars[i] == '"' && (1..=hashes).all(|k| at(i + k) == '#')) {
                line += usize::from(chars[i] == '\n');
                i += 1;
            }
            i += 1 + hashes;
        } else if c == '"' || (c == 'b' && at(i + 1) == '"') {
            i = skip_quoted(if c == 'b' { i + 1 } else { i }, &mut line, '"');
        } else if c == '\'' || (c == 'b' && at(i + 1) == '\'') {
            let start = if c == 'b' { i + 1 } else { i };
            if at(start + 1) == '\\' || at(start + 2) == '\'' {
                i = skip_quoted(start, &mut line, '\'');
            } else {
                // A lifetime or label: skip the quote and its name.
                i = start + 1;
                while at(i).is_alphanumeric() || at(i) == '_' {
                    i += 1;
                }
            }
        } else if is_ident_start(c) {
            let start = i;
            while at(i).is_alphanumeric() || at(i) == '_' {
                i += 1;
            }
            let mut text: String = chars[start..i].iter().collect();
            if text == "r" && at(i) == '#' && is_ident_start(at(i + 1)) {
                i += 1;
                let start = i;
                while at(i).is_alphanumeric() || at(i) == '_' {
                    i += 1;
                }
                text = chars[start..i].iter().collect();
            }
            tokens.push(Token { text, line });
        } else if c.is_ascii_digit() {
            while at(i).is_alphanumeric() || at(i) == '_' {
                i += 1;
            }
        } else if c == ':' && at(i + 1) == ':' {
            tokens.push(Token { text: "::".into(), line });
            i += 2;
        } else if c == '$' {
            i += 1; // `$crate` is `crate`; other metavariables are plain names.
        } else {
            tokens.push(Token { text: c.to_string(), line });
            i += 1;
        }
    }
    tokens
}

/// If a raw (byte) string opens at `i`, the number of its `#`s.
fn raw_string_at(chars: &[char], i: usize) -> Option<usize> {
    let after_prefix = match (chars.get(i), chars.get(i + 1)) {
        (Some('r'), _) => i + 1,
        (Some('b'), Some('r')) => i + 2,
        _ => return None,
    };
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return None; // the end of an identifier, such as `bar"`
    }
    let hashes = chars[after_prefix..].iter().take_while(|&&c| c == '#').count();
    (chars.get(after_prefix + hashes) == Some(&'"')).then_some(hashes)
}

/// The text of token `i`, or `""` past the end.
fn text(tokens: &[Token], i: usize) -> &str {
    tokens.get(i).map_or("", |t| t.text.as_str())
}

/// Whether `#[cfg(test)]` starts at token `i`.
fn is_cfg_test(tokens: &[Token], i: usize) -> bool {
    (0..7).map(|k| text(tokens, i + k)).eq(["#", "[", "cfg", "(", "test", ")", "]"])
}

/// The index after the bracketed group (or item) starting at `i`: it ends at the bracket
/// that closes the first one, or at a `;` outside brackets.
fn skip_item(tokens: &[Token], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < tokens.len() {
        match text(tokens, i) {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => {
                depth = depth.saturating_sub(1);
                if depth == 0 && text(tokens, i) != ")" {
                    return i + 1;
                }
            }
            ";" if depth == 0 => return i + 1,
            _ => {}
        }
        i += 1;
    }
    i
}

/// `tokens` without test code, and the line of the `#[cfg(test)]` of an inline test
/// module, if any: that module and everything after it are dropped; any other
/// `#[cfg(test)]` item is dropped on its own.
fn strip_test_items(tokens: &[Token]) -> (Vec<Token>, Option<usize>) {
    let mut kept = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if !is_cfg_test(tokens, i) {
            kept.push(tokens[i].clone());
            i += 1;
            continue;
        }
        let line = tokens[i].line;
        let mut item = i + 7;
        while text(tokens, item) == "#" {
            item = skip_item(tokens, item + 1); // further attributes
        }
        let mut keyword = item;
        if text(tokens, keyword) == "pub" {
            keyword += 1;
            if text(tokens, keyword) == "(" {
                keyword = skip_item(tokens, keyword);
            }
        }
        if text(tokens, keyword) == "mod" && text(tokens, keyword + 2) == "{" {
            return (kept, Some(line));
        }
        i = skip_item(tokens, item);
    }
    (kept, None)
}

// ---------------------------------------------------------------------------------------
// Check 1: no import cycle between the files of a crate
// ---------------------------------------------------------------------------------------

/// Every path the code names: each leaf of each `use` tree, expanded, and each path
/// written inline (an identifier followed by `::`, not itself after `::`).
fn named_paths(tokens: &[Token]) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if text(tokens, i) == "use" {
            i = use_tree(tokens, i + 1, &[], &mut paths);
            while i < tokens.len() && text(tokens, i) != ";" {
                i += 1;
            }
        } else if text(tokens, i + 1) == "::" && is_ident(text(tokens, i)) && (i == 0 || text(tokens, i - 1) != "::") {
            let mut path = vec![text(tokens, i).to_owned()];
            i += 1;
            while text(tokens, i) == "::" && is_ident(text(tokens, i + 1)) {
                path.push(text(tokens, i + 1).to_owned());
                i += 2;
            }
            paths.push(path);
            continue;
        }
        i += 1;
    }
    paths
}

/// Whether `s` is an identifier.
fn is_ident(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// Expands the `use` tree starting at token `i` under `prefix` into `paths`; returns the
/// index after it.
fn use_tree(tokens: &[Token], mut i: usize, prefix: &[String], paths: &mut Vec<Vec<String>>) -> usize {
    let mut path = prefix.to_vec();
    if text(tokens, i) == "::" {
        path.push("::".into()); // an external crate: never resolves to a module
        i += 1;
    }
    loop {
        match text(tokens, i) {
            "{" => {
                i += 1;
                while i < tokens.len() && text(tokens, i) != "}" {
                    let next = use_tree(tokens, i, &path, paths);
                    i = if next == i { i + 1 } else { next };
                    if text(tokens, i) == "," {
                        i += 1;
                    }
                }
                return i + 1;
            }
            "*" => {
                paths.push(path);
                return i + 1;
            }
            segment if is_ident(segment) => {
                if segment != "self" || path.is_empty() {
                    path.push(segment.to_owned());
                }
                i += 1;
                if text(tokens, i) == "::" {
                    i += 1;
                    continue;
                }
                if text(tokens, i) == "as" {
                    i += 2;
                }
                paths.push(path);
                return i;
            }
            _ => return i,
        }
    }
}

/// The absolute module path that `path`, named in module `module`, starts with, if it is
/// inside the crate: `crate::`, `self::`, `super::` or a child module of `module`.
fn absolute(module: &[String], path: &[String], modules: &BTreeMap<Vec<String>, usize>) -> Option<Vec<String>> {
    let first = path.first()?.as_str();
    let mut base = match first {
        "crate" => return Some(path[1..].to_vec()),
        "self" | "super" => module.to_vec(),
        _ => {
            let mut child = module.to_vec();
            child.push(first.to_owned());
            return modules.contains_key(&child).then(|| [module, path].concat());
        }
    };
    let mut rest = path;
    if rest.first().is_some_and(|s| s == "self") {
        rest = &rest[1..];
    }
    while rest.first().is_some_and(|s| s == "super") {
        base.pop()?;
        rest = &rest[1..];
    }
    Some([base.as_slice(), rest].concat())
}

/// The edges between the non-test files of `krate`, each with the paths that create it,
/// keyed by (from, to) file index. Edges to the crate root and to oneself are left out.
fn edges(krate: &Crate) -> BTreeMap<(usize, usize), BTreeSet<String>> {
    let mut modules = BTreeMap::new();
    for (index, file) in krate.files.iter().enumerate() {
        // `lib.rs` wins the root over `main.rs`; both are ignored as targets anyway.
        if !(file.module.is_empty() && file.display.ends_with("/main.rs")) {
            modules.insert(file.module.clone(), index);
        }
    }
    let mut edges: BTreeMap<(usize, usize), BTreeSet<String>> = BTreeMap::new();
    for (from, file) in krate.files.iter().enumerate().filter(|(_, f)| !f.is_test) {
        for path in named_paths(&file.tokens) {
            let Some(absolute) = absolute(&file.module, &path, &modules) else { continue };
            let to = (0..=absolute.len()).rev().find_map(|len| modules.get(&absolute[..len])).copied();
            let Some(to) = to else { continue };
            if to != from && !krate.files[to].module.is_empty() && !krate.files[to].is_test {
                edges.entry((from, to)).or_default().insert(path.join("::"));
            }
        }
    }
    edges
}

/// The strongly connected components of a graph of `nodes` nodes (Tarjan's algorithm).
fn strongly_connected(nodes: usize, adjacent: &[Vec<usize>]) -> Vec<Vec<usize>> {
    struct State<'a> {
        adjacent: &'a [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        components: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State<'_>, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for &w in &s.adjacent[v] {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(index) if s.on_stack[w] => s.low[v] = s.low[v].min(index),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut component = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            component.sort_unstable();
            s.components.push(component);
        }
    }
    let mut s = State {
        adjacent,
        index: vec![None; nodes],
        low: vec![0; nodes],
        on_stack: vec![false; nodes],
        stack: Vec::new(),
        next: 0,
        components: Vec::new(),
    };
    for v in 0..nodes {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    s.components
}

/// Each import cycle of `krate`, described: its files, and each edge inside it with the
/// names that create it.
fn cycles(krate: &Crate) -> Vec<String> {
    let edges = edges(krate);
    let mut adjacent = vec![Vec::new(); krate.files.len()];
    for &(from, to) in edges.keys() {
        adjacent[from].push(to);
    }
    let mut described = Vec::new();
    for component in strongly_connected(krate.files.len(), &adjacent).into_iter().filter(|c| c.len() > 1) {
        let files: Vec<&str> = component.iter().map(|&f| krate.files[f].display.as_str()).collect();
        let mut text = format!("crate `{}`, {} files: {}\n", krate.name, files.len(), files.join(", "));
        for ((from, to), names) in edges.iter().filter(|((f, t), _)| component.contains(f) && component.contains(t)) {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let (from, to) = (&krate.files[*from].display, &krate.files[*to].display);
            text.push_str(&format!("    {from} -> {to}: {}\n", names.join(", ")));
        }
        described.push(text);
    }
    described
}

#[test]
fn no_import_cycle_between_the_files_of_a_crate() {
    let found: Vec<String> = crates().iter().flat_map(cycles).collect();
    assert!(
        found.is_empty(),
        "\n{} import cycle(s) between the files of one crate. Files in a cycle can be neither \
         understood nor moved alone. Break each: move the shared item down into a module both \
         can import (or have the lower file take what it needs as a parameter or trait), so \
         that every edge below points one way.\n\n{}",
        found.len(),
        found.iter().enumerate().map(|(n, c)| format!("  cycle {}: {c}", n + 1)).collect::<String>()
    );
}

// ---------------------------------------------------------------------------------------
// Check 2: small modules
// ---------------------------------------------------------------------------------------

#[test]
fn no_module_is_over_the_line_budget() {
    let mut over = Vec::new();
    for krate in crates() {
        for file in krate.files.iter().filter(|f| !f.is_test && f.counted_lines > MAX_LINES) {
            over.push(format!("  {}: {} lines\n", file.display, file.counted_lines));
        }
    }
    assert!(
        over.is_empty(),
        "\n{} module(s) over {MAX_LINES} lines (counted before an inline `#[cfg(test)] mod … {{`; \
         files named tests.rs or testing.rs and files under tests/ are exempt). Split each by \
         concern into a folder of smaller modules, re-exporting from the parent so that other \
         code keeps its paths, or move its tests out into `<module>/tests.rs`:\n{}",
        over.len(),
        over.concat()
    );
}

// ---------------------------------------------------------------------------------------
// Check 3: the HTTP crate does not depend on outbound adapters' libraries
// ---------------------------------------------------------------------------------------

/// The packages that the normal (not dev-, not build-) dependency tables of a Cargo
/// manifest name, renamed ones under both names.
fn normal_dependencies(manifest: &str) -> BTreeSet<String> {
    let is_normal =
        |table: &str| table == "dependencies" || table.starts_with("target.") && table.ends_with(".dependencies");
    let unquote = |s: &str| s.trim().trim_matches(|c| c == '"' || c == '\'').to_owned();
    let mut names = BTreeSet::new();
    let (mut in_list, mut in_one) = (false, false);
    for line in manifest.lines().map(|l| l.split('#').next().unwrap().trim()) {
        if let Some(table) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let table = table.trim();
            in_list = is_normal(table);
            let single = table.rsplit_once('.').filter(|(parent, _)| is_normal(parent));
            in_one = single.is_some();
            if let Some((_, name)) = single {
                names.insert(unquote(name));
            }
        } else if let Some((key, value)) = line.split_once('=') {
            if in_list {
                names.insert(unquote(key.split('.').next().unwrap()));
            }
            if (in_list || in_one) && value.contains("package") || in_one && key.trim() == "package" {
                let renamed = value.split("package").nth(1).unwrap_or(value);
                if let Some(name) = renamed.split('"').nth(1) {
                    names.insert(name.to_owned());
                }
            }
        }
    }
    names
}

#[test]
fn the_http_crate_does_not_depend_on_hashing_or_jwt_libraries() {
    let manifest_path = crates_dir().join("api/Cargo.toml");
    let manifest = fs::read_to_string(&manifest_path).unwrap_or_else(|e| panic!("{}: {e}", manifest_path.display()));
    let dependencies = normal_dependencies(&manifest);
    assert!(dependencies.contains("actix-web"), "the [dependencies] of crates/api/Cargo.toml were not read");
    let found: Vec<&str> = FORBIDDEN_IN_API.into_iter().filter(|name| dependencies.contains(*name)).collect();
    assert!(
        found.is_empty(),
        "\ncrates/api/Cargo.toml's [dependencies] name {}. Password hashing and token signing are \
         outbound adapters, not HTTP: move the code that uses them out of `api` (into an adapter \
         crate implementing the domain's ports, which `api` wires in) and remove them from api's \
         [dependencies]; its [dev-dependencies] may keep them.\n",
        found.join(", ")
    );
}

// ---------------------------------------------------------------------------------------
// The checks' own parsing
// ---------------------------------------------------------------------------------------

#[test]
fn use_trees_expand_and_inline_paths_are_found() {
    let code = "use crate::a::{b::{C, d as e}, self, f::*};\nfn g() { super::h::I::new(); x.y; 'a: loop {} }";
    let paths: Vec<String> = named_paths(&tokenize(code)).iter().map(|p| p.join("::")).collect();
    assert_eq!(paths, ["crate::a::b::C", "crate::a::b::d", "crate::a", "crate::a::f", "super::h::I::new"]);
}

#[test]
fn comments_literals_and_test_items_are_ignored() {
    let code = "// crate::a::B\n/* crate::c */ fn f() { \"crate::d\"; r#\"crate::e\"#; 'x'; }\n\
                #[cfg(test)]\nmod tests;\nuse crate::kept::K;\n#[cfg(test)]\nfn helper() { crate::gone::G; }\n\
                #[cfg(test)]\nmod tests {\n    use crate::gone::H;\n}\n";
    let (tokens, test_module) = strip_test_items(&tokenize(code));
    let paths: Vec<String> = named_paths(&tokens).iter().map(|p| p.join("::")).collect();
    assert_eq!(paths, ["crate::kept::K"]);
    assert_eq!(test_module, Some(8));
}

#[test]
fn relative_paths_resolve_against_the_file_module() {
    let modules: BTreeMap<Vec<String>, usize> =
        [vec![], vec!["a".into()], vec!["a".into(), "b".into()]].into_iter().zip(0..).collect();
    let path = |s: &str| s.split("::").map(str::to_owned).collect::<Vec<_>>();
    let a = path("a");
    assert_eq!(absolute(&a, &path("super::X"), &modules), Some(path("X")));
    assert_eq!(absolute(&a, &path("b::X"), &modules), Some(path("a::b::X")));
    assert_eq!(absolute(&path("a::b"), &path("super::X"), &modules), Some(path("a::X")));
    assert_eq!(absolute(&a, &path("std::X"), &modules), None);
    assert_eq!(absolute(&[], &path("super::X"), &modules), None);
}

#[test]
fn only_normal_dependencies_count() {
    let manifest = "[dependencies]\na = \"1\"\nb.workspace = true\nc = { package = \"d\" }\n\
                    [dependencies.e]\nversion = \"1\"\n[dev-dependencies]\nf = \"1\"\n";
    let names: Vec<String> = normal_dependencies(manifest).into_iter().collect();
    assert_eq!(names, ["a", "b", "c", "d", "e"]);
}
