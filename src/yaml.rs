//! The single YAML entry point: multi-document parsing into JSON values, rendering, and
//! finding the line of a field so errors can name `file:line`.
//!
//! Values come from `serde_yaml` (YAML 1.2 scalars: `yes` stays a string). Positions come from
//! a second, event-level pass with `saphyr-parser`, because `serde_yaml` values carry no marks.
//! `serde_yaml` is deprecated: it is used nowhere else (tests, benches and the test-support
//! crate read YAML through this module too), so replacing it touches this one file.
//! Positions of fields are looked up only when an error needs one, so the happy path pays
//! for one extra scan per multi-document file and nothing more.

use saphyr_parser::{Event, Parser};
use serde::Deserialize;
use serde_json::Value;

/// Errors from reading YAML text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamlError {
    #[error("line {line}: invalid YAML: {message}")]
    Syntax { line: usize, message: String },
    #[error("line {line}: {message}")]
    Unsupported { line: usize, message: String },
}

impl YamlError {
    /// The 1-based line the error points at.
    pub fn line(&self) -> usize {
        match self {
            Self::Syntax { line, .. } | Self::Unsupported { line, .. } => *line,
        }
    }
}

/// One document of a multi-document stream.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlDocument {
    /// Position in the stream, counting empty documents too (for [`locate`]).
    pub index: usize,
    /// 1-based line of the document's first node.
    pub line: usize,
    pub value: Value,
}

/// One step of a path into a document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathSegment {
    Key(String),
    Index(usize),
}

impl std::fmt::Display for PathSegment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Key(key) => write!(f, "{key}"),
            Self::Index(index) => write!(f, "[{index}]"),
        }
    }
}

/// Renders a path the way users write it: `spec.podTemplate.spec.containers[0].name`.
pub fn display_path(path: &[PathSegment]) -> String {
    let mut out = String::new();
    for segment in path {
        if matches!(segment, PathSegment::Key(_)) && !out.is_empty() {
            out.push('.');
        }
        out.push_str(&segment.to_string());
    }
    out
}

/// Parses every document in `text`. Empty documents are dropped (their index is kept).
pub fn parse_documents(text: &str) -> Result<Vec<YamlDocument>, YamlError> {
    let mut values = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value = serde_yaml::Value::deserialize(document).map_err(syntax_error)?;
        values.push(value);
    }
    // One document (the common case) needs no second parse to find where it starts.
    let lines = if values.len() == 1 {
        vec![first_content_line(text)]
    } else {
        document_lines(text)
    };
    let mut documents = Vec::with_capacity(values.len());
    for (index, value) in values.into_iter().enumerate() {
        let line = lines.get(index).copied().unwrap_or(1);
        if value.is_null() {
            continue;
        }
        let value = serde_json::to_value(&value).map_err(|e| YamlError::Unsupported {
            line,
            message: format!("cannot be represented as JSON: {e}"),
        })?;
        documents.push(YamlDocument { index, line, value });
    }
    Ok(documents)
}

/// Parses a single-document YAML file that carries no user content (a vendored CRD), where
/// positions are not needed.
pub fn parse_value(text: &str) -> Result<Value, YamlError> {
    serde_yaml::from_str(text).map_err(syntax_error)
}

/// Renders a value as YAML (used for OpsRequests in the text plan).
pub fn to_string(value: &Value) -> String {
    serde_yaml::to_string(value).unwrap_or_else(|e| format!("# cannot render as YAML: {e}\n"))
}

fn syntax_error(error: serde_yaml::Error) -> YamlError {
    YamlError::Syntax {
        line: error.location().map_or(1, |l| l.line()),
        message: error.to_string(),
    }
}

/// The first line that is not blank, a comment, a directive or a `---` marker.
fn first_content_line(text: &str) -> usize {
    text.lines()
        .position(|line| {
            let line = line.trim_start();
            !(line.is_empty()
                || line.starts_with('#')
                || line.starts_with('%')
                || line.starts_with("---"))
        })
        .map_or(1, |index| index + 1)
}

/// The line of each document's first node, in stream order.
fn document_lines(text: &str) -> Vec<usize> {
    let mut lines = Vec::new();
    let mut awaiting_first_node = false;
    for event in Parser::new_from_str(text) {
        let Ok((event, span)) = event else { break };
        match event {
            Event::DocumentStart(_) => {
                lines.push(span.start.line());
                awaiting_first_node = true;
            }
            Event::Scalar(..) | Event::MappingStart(..) | Event::SequenceStart(..)
                if awaiting_first_node =>
            {
                if let Some(last) = lines.last_mut() {
                    *last = span.start.line();
                }
                awaiting_first_node = false;
            }
            _ => {}
        }
    }
    lines
}

/// Finds the 1-based line of `path` in document `document_index` of `text`: the line of the
/// key for a mapping entry, of the item for a sequence entry. When the path does not exist
/// (a missing required field, say) it answers with the deepest ancestor that does.
pub fn locate(text: &str, document_index: usize, path: &[PathSegment]) -> Option<usize> {
    let mut parser = Parser::new_from_str(text);
    let mut documents_seen = 0usize;
    loop {
        let (event, span) = parser.next()?.ok()?;
        match event {
            Event::DocumentStart(_) if documents_seen == document_index => {
                let mut best = span.start.line();
                let (root, root_span) = parser.next()?.ok()?;
                best = best.max(root_span.start.line());
                return Some(
                    walk_node(&mut parser, root, &mut Vec::new(), path, &mut best).unwrap_or(best),
                );
            }
            Event::DocumentStart(_) => documents_seen += 1,
            Event::StreamEnd => return None,
            _ => {}
        }
    }
}

/// Walks one node whose start event has been read. Returns `Some(line)` once `target` is found;
/// keeps `best` at the line of the deepest matching ancestor seen so far.
fn walk_node(
    parser: &mut Parser<'_, saphyr_parser::StrInput<'_>>,
    start: Event<'_>,
    here: &mut Vec<PathSegment>,
    target: &[PathSegment],
    best: &mut usize,
) -> Option<usize> {
    match start {
        Event::MappingStart(..) => loop {
            let (key_event, key_span) = parser.next()?.ok()?;
            let key = match key_event {
                Event::MappingEnd => return None,
                Event::Scalar(text, ..) => text.into_owned(),
                other => {
                    // A complex key: skip it and its value; manifests never use them.
                    skip_node(parser, other)?;
                    let (value, _) = parser.next()?.ok()?;
                    skip_node(parser, value)?;
                    continue;
                }
            };
            here.push(PathSegment::Key(key));
            let on_path = target.starts_with(here);
            if on_path {
                *best = key_span.start.line();
                if here.len() == target.len() {
                    return Some(*best);
                }
            }
            let (value, _) = parser.next()?.ok()?;
            if on_path {
                if let Some(line) = walk_node(parser, value, here, target, best) {
                    return Some(line);
                }
            } else {
                skip_node(parser, value)?;
            }
            here.pop();
        },
        Event::SequenceStart(..) => {
            let mut index = 0;
            loop {
                let (item, item_span) = parser.next()?.ok()?;
                if matches!(item, Event::SequenceEnd) {
                    return None;
                }
                here.push(PathSegment::Index(index));
                let on_path = target.starts_with(here);
                if on_path {
                    *best = item_span.start.line();
                    if here.len() == target.len() {
                        return Some(*best);
                    }
                    if let Some(line) = walk_node(parser, item, here, target, best) {
                        return Some(line);
                    }
                } else {
                    skip_node(parser, item)?;
                }
                here.pop();
                index += 1;
            }
        }
        _ => None,
    }
}

/// Consumes the rest of a node whose start event has been read.
fn skip_node(parser: &mut Parser<'_, saphyr_parser::StrInput<'_>>, start: Event<'_>) -> Option<()> {
    let mut depth = match start {
        Event::MappingStart(..) | Event::SequenceStart(..) => 1usize,
        _ => return Some(()),
    };
    while depth > 0 {
        match parser.next()?.ok()?.0 {
            Event::MappingStart(..) | Event::SequenceStart(..) => depth += 1,
            Event::MappingEnd | Event::SequenceEnd => depth -= 1,
            _ => {}
        }
    }
    Some(())
}

#[cfg(test)]
mod tests;
