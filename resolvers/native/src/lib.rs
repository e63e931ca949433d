//! assetlake's native helpers: per-record steps whose cost in Python is scanning bytes, not
//! logic. Each answers as the Python it stands in for, or says it cannot (None), and the
//! Python then decides; so no result depends on whether the module was built.

use std::collections::HashSet;

use memchr::memmem::Finder;
use memchr::{memchr, memrchr};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::AsPyPointer;
use pyo3::types::{PyBytes, PySet, PyString};

/// Whether a record's JSON text holds a member that redaction may replace: the check of
/// `record_may_hold_secret` in resolvers/secret_text.py (`_stems_in`, then `_held_in_text`),
/// the same answer for the same text, in one pass of the bytes and a look at each stem found.
///
/// `held` answers True (a member under a secret key, with a value of the kind that key holds
/// a secret in), False (none), or None where the Python must look itself: a text with a
/// character outside ASCII (Unicode lowercasing can move positions, and turn KELVIN SIGN into
/// `k`; such a text is not read at all), a `\u` escape (it may spell a key), or a quote
/// escaped next to a stem.
#[pyclass(module = "resolvers.native._assetlake_native")]
struct SecretScreen {
    groups: Vec<(Finder<'static>, Vec<Finder<'static>>)>,
    keys: HashSet<Vec<u8>>,
    maps: HashSet<Vec<u8>>,
    lists: HashSet<Vec<u8>>,
    suffix: Vec<u8>,
    escape: Finder<'static>,
}

fn finder(needle: &str) -> PyResult<Finder<'static>> {
    if needle.is_empty() || !needle.is_ascii() || needle.to_ascii_lowercase() != needle {
        return Err(PyValueError::new_err(format!(
            "a word or stem must be lowercase ASCII, not {needle:?}"
        )));
    }
    Ok(Finder::new(needle.as_bytes()).into_owned())
}

fn byte_set(names: Vec<String>) -> HashSet<Vec<u8>> {
    names.into_iter().map(String::into_bytes).collect()
}

#[pymethods]
impl SecretScreen {
    /// `groups`: each word, with the stems containing it, in the order the Python searches
    /// them; `keys`, `maps`, `lists`: the secret keys of each kind; `suffix`: the lowercase
    /// ending of a key whose string value is a secret.
    #[new]
    fn new(
        groups: Vec<(String, Vec<String>)>,
        keys: Vec<String>,
        maps: Vec<String>,
        lists: Vec<String>,
        suffix: String,
    ) -> PyResult<Self> {
        let mut searched = Vec::with_capacity(groups.len());
        for (word, stems) in &groups {
            let stems = stems.iter().map(|s| finder(s)).collect::<PyResult<Vec<_>>>()?;
            searched.push((finder(word)?, stems));
        }
        Ok(SecretScreen {
            groups: searched,
            keys: byte_set(keys),
            maps: byte_set(maps),
            lists: byte_set(lists),
            suffix: suffix.to_ascii_lowercase().into_bytes(),
            escape: Finder::new(b"\\u").into_owned(),
        })
    }

    /// True, False or None for a record's text (see the type's note).
    fn held(&self, text: &PyString) -> PyResult<Option<bool>> {
        // SAFETY: reads the ASCII flag of a str object's state. CPython sets it only on a
        // string that is ready and all ASCII, so a string of any other kind (even a legacy one
        // not made ready) reads as not ASCII and goes back to the Python.
        if unsafe { pyo3::ffi::PyUnicode_IS_ASCII(text.as_ptr()) } == 0 {
            return Ok(None);
        }
        // an ASCII str's UTF-8 is its own buffer: to_str() copies nothing for it
        let payload = text.to_str()?.as_bytes();
        if self.escape.find(payload).is_some() {
            return Ok(None);
        }
        let lowered = payload.to_ascii_lowercase();
        let mut found: Vec<&Finder<'static>> = Vec::new();
        for (word, stems) in &self.groups {
            if word.find(&lowered).is_some() {
                found.extend(stems.iter().filter(|stem| stem.find(&lowered).is_some()));
            }
        }
        for stem in found {
            match self.stem_held(payload, &lowered, stem) {
                Some(false) => continue,
                answer => return Ok(answer),
            }
        }
        Ok(Some(false))
    }
}

impl SecretScreen {
    /// `_held_in_text` for one stem: each occurrence, the string around it, a key if a colon
    /// follows, and whether that member may hold a secret.
    fn stem_held(&self, payload: &[u8], lowered: &[u8], stem: &Finder<'static>) -> Option<bool> {
        let width = stem.needle().len();
        let mut from = 0;
        while let Some(offset) = stem.find(&lowered[from..]) {
            let position = from + offset;
            let start = memrchr(b'"', &payload[..position])?;
            let end = position + width + memchr(b'"', &payload[position + width..])?;
            // as Python's payload[start - 1]: the last byte when start is 0
            let before_start = if start == 0 { payload.len() - 1 } else { start - 1 };
            if payload[before_start] == b'\\' || payload[end - 1] == b'\\' {
                return None;
            }
            if let Some(starts) = value_start(payload, end + 1) {
                if self.secret_member(&payload[start + 1..end], starts) {
                    return Some(true);
                }
            }
            from = end + 1;
        }
        Some(false)
    }

    fn secret_member(&self, key: &[u8], starts: u8) -> bool {
        self.keys.contains(key)
            || (starts == b'{' && self.maps.contains(key))
            || (starts == b'[' && self.lists.contains(key))
            || (starts == b'"' && key.to_ascii_lowercase().ends_with(&self.suffix))
    }
}

/// The first byte of the value after a key's closing quote (at `at`), as the Python's
/// `[ \t\n\r]*:[ \t\n\r]*(.)` reads it: whitespace, a colon, whitespace, then any byte (a text
/// that ends in whitespace after the colon gives its last byte, as the regex backtracks to);
/// None when no colon follows.
fn value_start(payload: &[u8], at: usize) -> Option<u8> {
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let rest = payload.get(at..)?;
    let colon = rest.iter().position(|b| !is_space(b))?;
    if rest[colon] != b':' {
        return None;
    }
    let after = &rest[colon + 1..];
    after.iter().find(|b| !is_space(b)).or(after.last()).copied()
}

/// The members of a configuration's compact JSON that `canonicalize` looks at, as
/// `config_members` in resolvers/secret_text.py finds them: its `_MEMBER.findall` (every
/// `"key":` with the first byte of its value, read as that regex reads it, quotes escaped or
/// not), then which of them are secret-bearing and which volatile, in one pass of the bytes.
#[pyclass(module = "resolvers.native._assetlake_native")]
struct MemberScan {
    secret: HashSet<Vec<u8>>,
    volatile: HashSet<Vec<u8>>,
    password: Finder<'static>,
}

#[pymethods]
impl MemberScan {
    /// `secret`, `volatile`: members as the regex gives them (`key":` and a byte);
    /// `password`: lowercase bytes whose presence in the lowercased text counts as secret.
    #[new]
    fn new(secret: Vec<Vec<u8>>, volatile: Vec<Vec<u8>>, password: Vec<u8>) -> Self {
        MemberScan {
            secret: secret.into_iter().collect(),
            volatile: volatile.into_iter().collect(),
            password: Finder::new(&password).into_owned(),
        }
    }

    /// (whether a secret-bearing member is there, the set of volatile members there).
    fn scan<'py>(&self, py: Python<'py>, text: &[u8]) -> PyResult<(bool, &'py PySet)> {
        let mut secret = false;
        let mut volatile: Vec<&[u8]> = Vec::new();
        for member in Members::new(text) {
            secret = secret || self.secret.contains(member);
            if self.volatile.contains(member) && !volatile.contains(&member) {
                volatile.push(member);
            }
        }
        if !secret {
            secret = self.password.find(&text.to_ascii_lowercase()).is_some();
        }
        let volatile: Vec<&PyBytes> = volatile.into_iter().map(|m| PyBytes::new(py, m)).collect();
        Ok((secret, PySet::new(py, &volatile)?))
    }
}

/// The matches of `"([^"\\]*":.)` (any byte for `.`) in a text, left to right, each as its
/// group: a quote, a run with no quote or backslash, a quote, a colon, one more byte. A run
/// ends at its first quote or backslash, so a match at a quote is decided without
/// backtracking; where there is none, the search goes on from the next quote.
struct Members<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> Members<'a> {
    fn new(text: &'a [u8]) -> Self {
        Members { text, at: 0 }
    }
}

impl<'a> Iterator for Members<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let text = self.text;
        loop {
            let open = self.at + memchr(b'"', text.get(self.at..)?)?;
            let run = open + 1;
            let stop = run + text[run..].iter().position(|b| *b == b'"' || *b == b'\\')?;
            if text[stop] == b'"' && stop + 2 < text.len() && text[stop + 1] == b':' {
                self.at = stop + 3;
                return Some(&text[run..stop + 3]);
            }
            self.at = open + 1;
        }
    }
}

#[pymodule]
fn _assetlake_native(_py: Python<'_>, module: &PyModule) -> PyResult<()> {
    module.add_class::<SecretScreen>()?;
    module.add_class::<MemberScan>()?;
    // the interface version: resolvers/native/load.py refuses a module built for another
    module.add("INTERFACE", 2)?;
    Ok(())
}
