//! The runtime's layers point one way (DESIGN.md, "Layers that point one way"): the command line
//! (`cli.rs`, with `main.rs`) parses and dispatches, and nothing below it imports it; and no
//! top-level module of `minibox/src` reaches itself again through the modules it imports.
//!
//! Imports are read from the text: every `crate::NAME` path, and every name of a
//! `use crate::{A, B::c}` group, in code and in `//|` lines (the code that earlier snapshots
//! compile), never in comments. NAME counts when it is a top-level module: `minibox/src/NAME.rs`
//! or `minibox/src/NAME/`. `lib.rs` (which declares the modules) and `main.rs` (which calls
//! `cli`) are the crate's roots, not modules, and are not read.

use crate::workspace::Workspace;
use anyhow::{Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The module that may import every other, and that no other may import.
pub const COMMAND_LINE: &str = "cli";

/// Who imports whom: `edges[from][to]` is the first place `from` names `to` (`daemon/client.rs:6`).
#[derive(Debug, Default)]
pub struct Graph {
    pub modules: BTreeSet<String>,
    pub edges: BTreeMap<String, BTreeMap<String, String>>,
}

impl Graph {
    pub fn edge_count(&self) -> usize {
        self.edges.values().map(BTreeMap::len).sum()
    }

    /// Record that the file `place` (in module `from`) names `to`.
    pub fn add(&mut self, from: &str, to: &str, place: String) {
        if from != to && self.modules.contains(to) {
            self.edges.entry(from.to_string()).or_default().entry(to.to_string()).or_insert(place);
        }
    }

    fn targets(&self, from: &str) -> impl Iterator<Item = &String> {
        self.edges.get(from).into_iter().flat_map(BTreeMap::keys)
    }

    /// The modules `from` reaches through one import or more.
    fn reach(&self, from: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&String> = self.targets(from).collect();
        while let Some(next) = todo.pop() {
            if seen.insert(next.clone()) {
                todo.extend(self.targets(next));
            }
        }
        seen
    }

    /// The groups of modules that import each other, directly or not (strongly connected
    /// components of two modules or more), each sorted.
    pub fn cycles(&self) -> Vec<Vec<String>> {
        let reach: BTreeMap<&String, BTreeSet<String>> =
            self.modules.iter().map(|m| (m, self.reach(m))).collect();
        let mut groups: BTreeSet<Vec<String>> = BTreeSet::new();
        for module in &self.modules {
            if !reach[module].contains(module) {
                continue;
            }
            let group: Vec<String> = self
                .modules
                .iter()
                .filter(|other| reach[module].contains(*other) && reach[other].contains(module))
                .cloned()
                .collect();
            groups.insert(group);
        }
        groups.into_iter().collect()
    }
}

/// Read the modules of `src` (a crate's `src/`) and their imports.
pub fn read(src: &Path) -> Result<Graph> {
    let mut graph = Graph::default();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(src).with_context(|| format!("reading {}", src.display()))? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        if path.is_dir() {
            graph.modules.insert(name.clone());
            collect(&path, &name, &mut files)?;
        } else if let Some(module) = name.strip_suffix(".rs")
            && !matches!(module, "lib" | "main")
        {
            graph.modules.insert(module.to_string());
            files.push((module.to_string(), path));
        }
    }
    files.sort();
    for (module, path) in files {
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let shown = path.strip_prefix(src).unwrap_or(&path).display().to_string();
        for (line, name) in crate_references(&text) {
            graph.add(&module, &name, format!("{shown}:{line}"));
        }
    }
    Ok(graph)
}

fn collect(dir: &Path, module: &str, out: &mut Vec<(String, std::path::PathBuf)>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, module, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push((module.to_string(), path));
        }
    }
    Ok(())
}

/// The first name after each `crate::` of the code in `text`, with its 1-based line:
/// `crate::image::Store` gives `image`; `use crate::{exit, image::Store}` gives both.
pub fn crate_references(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let code = match trimmed.strip_prefix("//|") {
            Some(code) => code,
            None => without_comment(line),
        };
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let before = rest[..at].chars().next_back();
            rest = &rest[at + "crate::".len()..];
            // `$crate::` (a macro's) and `mycrate::` name no module of this crate.
            if before.is_some_and(|c| c == '$' || c == '_' || c.is_alphanumeric()) {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                let end = closing_brace(group);
                for item in top_level_items(&group[..end]) {
                    found.push((index + 1, item));
                }
                rest = &group[end..];
            } else {
                let name = identifier(rest);
                if !name.is_empty() {
                    found.push((index + 1, name.to_string()));
                }
            }
        }
    }
    found
}

/// The line without a `//` comment (one outside a string literal).
fn without_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_string => i += 1,
            b'"' => in_string = !in_string,
            b'/' if !in_string && bytes.get(i + 1) == Some(&b'/') => return &line[..i],
            _ => {}
        }
        i += 1;
    }
    line
}

fn identifier(text: &str) -> &str {
    let end = text.find(|c: char| !(c == '_' || c.is_alphanumeric())).unwrap_or(text.len());
    &text[..end]
}

/// Where the group that `text` starts inside ends (the index of its `}`, or the end).
fn closing_brace(text: &str) -> usize {
    let mut depth = 0;
    for (at, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return at,
            '}' => depth -= 1,
            _ => {}
        }
    }
    text.len()
}

/// The first name of each item of a `{...}` group's inside, at its top level (`self` left out).
fn top_level_items(group: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (at, c) in group.char_indices().chain(std::iter::once((group.len(), ','))) {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                let name = identifier(group[start..at].trim());
                if !name.is_empty() && name != "self" {
                    items.push(name.to_string());
                }
                start = at + 1;
            }
            _ => {}
        }
    }
    items
}

/// What breaks the layers: a library module that imports the command line, and each group of
/// modules that import each other, with the imports that close the loop.
pub fn defects(graph: &Graph) -> Vec<String> {
    let mut defects = Vec::new();
    for (from, targets) in &graph.edges {
        if from != COMMAND_LINE
            && let Some(place) = targets.get(COMMAND_LINE)
        {
            defects.push(format!(
                "minibox/src/{place}: `{from}` imports `{COMMAND_LINE}`: the library never depends on the \
                 command line (move what both need below both, or pass a type of the library's own)"
            ));
        }
    }
    for group in graph.cycles() {
        let edges: Vec<String> = group
            .iter()
            .flat_map(|from| {
                graph.edges[from]
                    .iter()
                    .filter(|(to, _)| group.contains(to))
                    .map(move |(to, place)| format!("{from} -> {to} ({place})"))
            })
            .collect();
        defects.push(format!(
            "modules of minibox/src import each other ({}): {}",
            group.join(", "),
            edges.join(", ")
        ));
    }
    defects
}

/// verify's check over `minibox/src`.
pub fn run(ws: &Workspace) -> Result<Vec<String>> {
    Ok(defects(&read(&ws.path("minibox/src"))?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(modules: &[&str], edges: &[(&str, &str)]) -> Graph {
        let mut graph =
            Graph { modules: modules.iter().map(|m| m.to_string()).collect(), ..Graph::default() };
        for (line, (from, to)) in edges.iter().enumerate() {
            graph.add(from, to, format!("{from}.rs:{}", line + 1));
        }
        graph
    }

    #[test]
    fn paths_and_use_groups_are_read_but_comments_are_not() {
        let text = "\
use crate::container::{self, Config};
use crate::{exit, image::{Store, layer}, self};
    // crate::cli::Command in a comment
    //| let dir = crate::state::default_busybox_rootfs(dir)?;
let s = \"unix:///x\"; let e = crate::exit::code_of(&error); // crate::daemon
if $crate::log::verbose() {}
mycrate::oci::run();
";
        let names: Vec<(usize, String)> = crate_references(text);
        let expected = [(1, "container"), (2, "exit"), (2, "image"), (4, "state"), (5, "exit")];
        assert_eq!(names, expected.map(|(l, n)| (l, n.to_string())), "the names read from {text}");
    }

    #[test]
    fn a_library_module_importing_the_command_line_is_named_with_its_place() {
        let found = defects(&graph(&["cli", "daemon", "image"], &[("daemon", "cli"), ("cli", "daemon")]));
        assert_eq!(found.len(), 2, "one import of cli and one cycle (cli, daemon): {found:?}");
        assert!(found[0].contains("minibox/src/daemon.rs:1: `daemon` imports `cli`"), "{}", found[0]);
        let fine = defects(&graph(&["cli", "daemon", "image"], &[("cli", "daemon"), ("daemon", "image")]));
        assert!(fine.is_empty(), "the command line may import the library: {fine:?}");
    }

    #[test]
    fn a_cycle_through_three_modules_names_its_edges_and_leaves_the_rest_out() {
        let edges = [("rootfs", "image"), ("image", "state"), ("state", "rootfs"), ("container", "rootfs")];
        let found = defects(&graph(&["container", "image", "rootfs", "state"], &edges));
        assert_eq!(
            found,
            [
                "modules of minibox/src import each other (image, rootfs, state): image -> state (image.rs:2), \
              rootfs -> image (rootfs.rs:1), state -> rootfs (state.rs:3)"
            ],
            "the cycle and only its edges"
        );
    }

    #[test]
    fn names_that_are_not_modules_make_no_edge() {
        let mut graph = graph(&["container", "log"], &[]);
        graph.add("container", "step", "container.rs:1".into()); // a macro: `crate::step!`
        graph.add("container", "container", "container.rs:2".into());
        assert_eq!(graph.edge_count(), 0, "{graph:?}");
    }

    /// The rule holds for the runtime itself, so that `cargo test -p xtask` keeps it as verify does.
    #[test]
    fn the_runtime_has_layers_without_cycles() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../minibox/src");
        let graph = read(&src).expect("minibox/src is readable");
        assert!(graph.edge_count() > 0, "no imports found in {}", src.display());
        let found = defects(&graph);
        assert!(found.is_empty(), "the runtime's layers:\n{}", found.join("\n"));
    }
}
