//! Versions and version constraints as KubeDB reads them: its PostgresVersion
//! `spec.updateConstraints` allow/deny lists are parsed by Go's Masterminds/semver v3
//! (`NewConstraint`, `NewVersion`), so this module copies that library's rules rather than the
//! `semver` crate's (Cargo's) ones, which differ: a bare `16.4` means "equal" (or the 16.4.x
//! range), not "compatible"; `!=`, `A - B` ranges, `||`, whitespace as AND and a `v` prefix are
//! allowed.
//!
//! One implementation for the planner and the simulator, so that what pg-gitops predicts and
//! what the test oracle does cannot drift apart. The rules, from upstream `constraints.go`:
//! - `||` separates alternatives; inside one, comparators are ANDed, separated by a comma or
//!   whitespace (an operator may be followed by spaces: `>= 11.1`);
//! - `A - B` (spaces required) is `>= A, <= B`;
//! - operators `=`, `!=`, `>`, `<`, `>=`/`=>`, `<=`/`=<`, `~`/`~>`, `^`, and none (`=`, or the
//!   `~` range when the version is partial);
//! - `x`, `X`, `*` and missing parts are wildcards (`16.x`, `16`: every 16.y.z);
//! - a prerelease version (`17.0.0-rc.1`) only matches an alternative in which some comparator
//!   names a prerelease itself.
//!
//! The `semver` crate is used only to hold and order versions: its precedence order (build
//! metadata ignored, prereleases before the release) is the one Masterminds uses.

use std::cmp::Ordering;

use semver::{BuildMetadata, Prerelease, Version};

/// A version or constraint that Masterminds/semver would refuse to parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("{0:?} is not a version (expected forms like 16, 16.4, v16.4.1, 17.0.0-rc.1)")]
    Version(String),
    #[error("{constraint:?} is not a version constraint: {reason}")]
    Constraint { constraint: String, reason: String },
}

/// Parses a version as Masterminds' `NewVersion` does (in its default coercing mode): an
/// optional `v`, one to three numeric parts (missing ones are 0, leading zeros are accepted),
/// then an optional `-prerelease` and `+build`. No surrounding whitespace.
pub fn parse_version(text: &str) -> Result<Version, VersionError> {
    let bad = || VersionError::Version(text.to_string());
    let rest = text.strip_prefix('v').unwrap_or(text);
    let (rest, build) = split_suffix(rest, '+').ok_or_else(bad)?;
    let (core, pre) = split_suffix(rest, '-').ok_or_else(bad)?;
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() > 3 || parts.iter().any(|p| !is_number(p)) {
        return Err(bad());
    }
    let mut numbers = [0u64; 3];
    for (slot, part) in numbers.iter_mut().zip(&parts) {
        *slot = part.parse().map_err(|_| bad())?;
    }
    let [major, minor, patch] = numbers;
    Ok(Version {
        major,
        minor,
        patch,
        pre: Prerelease::new(pre).map_err(|_| bad())?,
        build: BuildMetadata::new(build).map_err(|_| bad())?,
    })
}

/// Splits `text` at the first `separator`; `None` when the separator ends the text (an empty
/// prerelease or build is not a version).
fn split_suffix(text: &str, separator: char) -> Option<(&str, &str)> {
    match text.split_once(separator) {
        Some((_, "")) => None,
        Some(split) => Some(split),
        None => Some((text, "")),
    }
}

fn is_number(part: &str) -> bool {
    !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit())
}

/// A parsed Masterminds constraint such as `>= 13.0, < 17 || 17.2 - 17.4`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraints {
    /// `||` alternatives, each a list of comparators that must all hold.
    alternatives: Vec<Vec<Comparator>>,
}

impl Constraints {
    /// Parses as Masterminds' `NewConstraint` does; an empty constraint is an error there too.
    pub fn parse(text: &str) -> Result<Self, VersionError> {
        let alternatives = text
            .split("||")
            .map(|alternative| {
                parse_alternative(alternative).map_err(|reason| VersionError::Constraint {
                    constraint: text.to_string(),
                    reason,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { alternatives })
    }

    /// Whether `version` satisfies some alternative (Masterminds' `Check`).
    pub fn matches(&self, version: &Version) -> bool {
        self.alternatives.iter().any(|comparators| {
            // Prereleases are only candidates for an alternative that asks for one.
            let include_pre = comparators.iter().any(|c| !c.version.pre.is_empty());
            comparators.iter().all(|c| c.matches(version, include_pre))
        })
    }
}

impl std::str::FromStr for Constraints {
    type Err = VersionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

/// Parses `constraint` and checks `version` against it.
pub fn constraint_matches(constraint: &str, version: &Version) -> Result<bool, VersionError> {
    Ok(Constraints::parse(constraint)?.matches(version))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// No operator or `=`: equality, or the `~` range for a partial version.
    TildeOrEqual,
    NotEqual,
    Greater,
    Less,
    GreaterEqual,
    LessEqual,
    Tilde,
    Caret,
}

/// The operators, longest first so that `>=` is not read as `>` followed by `=`.
const OPERATORS: [(&str, Op); 11] = [
    ("!=", Op::NotEqual),
    (">=", Op::GreaterEqual),
    ("=>", Op::GreaterEqual),
    ("<=", Op::LessEqual),
    ("=<", Op::LessEqual),
    ("~>", Op::Tilde),
    (">", Op::Greater),
    ("<", Op::Less),
    ("=", Op::TildeOrEqual),
    ("~", Op::Tilde),
    ("^", Op::Caret),
];

/// One comparator; the `*_dirty` flags mark wildcard or missing parts as upstream does.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Comparator {
    op: Op,
    /// The version with wildcard parts set to 0.
    version: Version,
    /// Some part is a wildcard or missing.
    dirty: bool,
    /// The minor part (and so the patch) is a wildcard or missing.
    minor_dirty: bool,
    /// Only the patch part is a wildcard or missing.
    patch_dirty: bool,
}

/// Reads one `||` alternative with a cursor, following upstream's regular expressions:
/// comparators are `op \s* version`, separated by whitespace or a comma; `A - B` is a range.
fn parse_alternative(text: &str) -> Result<Vec<Comparator>, String> {
    let mut rest = text.trim_start();
    let mut comparators = Vec::new();
    loop {
        let (op, after_op) = OPERATORS
            .iter()
            .find_map(|(token, op)| rest.strip_prefix(token).map(|after| (Some(*op), after)))
            .unwrap_or((None, rest));
        let (lower, after) = split_version(after_op.trim_start())?;
        rest = after;
        let spaced = rest.starts_with(char::is_whitespace);
        let trimmed = rest.trim_start();
        // `A - B`: upstream rewrites it to `>= A, <= B ` before anything else, so it needs
        // whitespace on both sides of the dash and no operator on A.
        let range_tail = trimmed
            .strip_prefix('-')
            .filter(|tail| spaced && op.is_none() && tail.starts_with(char::is_whitespace));
        let ended_by_range = if let Some(tail) = range_tail {
            let (upper, after) = split_version(tail.trim_start())?;
            comparators.push(comparator(Op::GreaterEqual, lower)?);
            comparators.push(comparator(Op::LessEqual, upper)?);
            rest = after.trim_start();
            true
        } else {
            comparators.push(comparator(op.unwrap_or(Op::TildeOrEqual), lower)?);
            rest = trimmed;
            false
        };
        if rest.is_empty() {
            return Ok(comparators);
        }
        if let Some(after_comma) = rest.strip_prefix(',') {
            rest = after_comma.trim_start();
        } else if !(spaced || ended_by_range) {
            return Err(format!("expected a comma or space before {rest:?}"));
        }
    }
}

/// Splits the longest version-shaped prefix off `text` (upstream's `cvRegex`: `v`, up to three
/// parts of digits or `x`/`X`/`*`, then optional `-prerelease` and `+build`).
fn split_version(text: &str) -> Result<(&str, &str), String> {
    let bytes = text.as_bytes();
    let mut end = usize::from(text.starts_with('v'));
    let part = |b: u8| b.is_ascii_digit() || matches!(b, b'x' | b'X' | b'*');
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'-';
    let run = |from: usize, accept: &dyn Fn(u8) -> bool| {
        from + bytes[from..].iter().take_while(|b| accept(**b)).count()
    };
    let major_end = run(end, &part);
    if major_end == end {
        let shown = if text.is_empty() { "the end" } else { text };
        return Err(format!("expected a version at {shown:?}"));
    }
    end = major_end;
    for _ in 0..2 {
        if bytes.get(end) == Some(&b'.') && run(end + 1, &part) > end + 1 {
            end = run(end + 1, &part);
        }
    }
    for marker in [b'-', b'+'] {
        if bytes.get(end) == Some(&marker) && run(end + 1, &ident) > end + 1 {
            end = run(end + 1, &ident);
            while bytes.get(end) == Some(&b'.') && run(end + 1, &ident) > end + 1 {
                end = run(end + 1, &ident);
            }
        }
    }
    Ok(text.split_at(end))
}

/// Builds a comparator the way upstream's `parseConstraint` does: wildcard or missing parts
/// become 0 and set the dirty flags (any parts after a wildcard are ignored).
fn comparator(op: Op, text: &str) -> Result<Comparator, String> {
    let unprefixed = text.strip_prefix('v').unwrap_or(text);
    let core_end = unprefixed.find(['-', '+']).unwrap_or(unprefixed.len());
    let (core, suffix) = unprefixed.split_at(core_end);
    let prerelease = suffix.split('+').next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    let is_x = |i: usize| parts.get(i).is_none_or(|p| matches!(*p, "x" | "X" | "*"));
    let (dirty, minor_dirty, patch_dirty, exact) = if is_x(0) {
        (true, false, false, format!("0.0.0{prerelease}"))
    } else if is_x(1) {
        (true, true, false, format!("{}.0.0{prerelease}", parts[0]))
    } else if is_x(2) {
        (
            true,
            false,
            true,
            format!("{}.{}.0{prerelease}", parts[0], parts[1]),
        )
    } else {
        (false, false, false, text.to_string())
    };
    let version = parse_version(&exact).map_err(|e| e.to_string())?;
    Ok(Comparator {
        op,
        version,
        dirty,
        minor_dirty,
        patch_dirty,
    })
}

impl Comparator {
    /// Upstream's `constraint*` functions, one arm each.
    fn matches(&self, v: &Version, include_pre: bool) -> bool {
        if !v.pre.is_empty() && !include_pre {
            return false;
        }
        let c = &self.version;
        let cmp = v.cmp_precedence(c);
        match self.op {
            Op::TildeOrEqual if self.dirty => self.tilde(v, cmp),
            Op::TildeOrEqual => cmp == Ordering::Equal,
            Op::Tilde => self.tilde(v, cmp),
            Op::NotEqual if self.dirty => {
                if c.major != v.major || (c.minor != v.minor && !self.minor_dirty) {
                    true
                } else if self.minor_dirty {
                    false
                } else if c.patch != v.patch && !self.patch_dirty {
                    true
                } else if self.patch_dirty {
                    // Equal up to the wildcard: unequal only by prerelease.
                    (!v.pre.is_empty() || !c.pre.is_empty()) && v.pre != c.pre
                } else {
                    cmp != Ordering::Equal
                }
            }
            Op::NotEqual => cmp != Ordering::Equal,
            Op::Greater if !self.dirty => cmp == Ordering::Greater,
            // `> 11` means 12 or later, `> 11.1` means 11.2 or later.
            Op::Greater => match v.major.cmp(&c.major) {
                Ordering::Greater => true,
                Ordering::Less => false,
                Ordering::Equal if self.minor_dirty => false,
                Ordering::Equal if self.patch_dirty => v.minor > c.minor,
                Ordering::Equal => cmp == Ordering::Greater,
            },
            Op::Less => cmp == Ordering::Less,
            Op::GreaterEqual => cmp != Ordering::Less,
            Op::LessEqual if !self.dirty => cmp != Ordering::Greater,
            // `<= 11` admits every 11.y.z, `<= 11.1` every 11.1.z.
            Op::LessEqual => {
                v.major < c.major
                    || (v.major == c.major && (v.minor <= c.minor || self.minor_dirty))
            }
            Op::Caret => self.caret(v, cmp),
        }
    }

    /// `~1.2.3` is `>= 1.2.3, < 1.3.0`; `~1` and `~1.x` are `>= 1.0.0, < 2.0.0`; `~*` is any.
    fn tilde(&self, v: &Version, cmp: Ordering) -> bool {
        let c = &self.version;
        if cmp == Ordering::Less {
            return false;
        }
        if (c.major, c.minor, c.patch) == (0, 0, 0) && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        v.major == c.major && (v.minor == c.minor || self.minor_dirty)
    }

    /// `^1.2.3` is `>= 1.2.3, < 2.0.0`; below 1.0 the first non-zero part is fixed instead.
    fn caret(&self, v: &Version, cmp: Ordering) -> bool {
        let c = &self.version;
        if cmp == Ordering::Less {
            return false;
        }
        if c.major > 0 || self.minor_dirty {
            return v.major == c.major;
        }
        if v.major > 0 {
            return false;
        }
        if c.minor > 0 || self.patch_dirty {
            return v.minor == c.minor;
        }
        v.minor == 0 && v.patch == c.patch
    }
}

#[cfg(test)]
mod tests;
