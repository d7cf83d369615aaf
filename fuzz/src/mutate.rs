//! Seed mutation driven by bolero's generated values: the generator decides which seed and
//! which edits, this module only applies them. Structured inputs (PROXY v2 headers, RADIUS
//! packets, TOML files) are reached far more often from a valid seed with a few edits than
//! from random bytes.

use bolero::generator::TypeGenerator;

/// Most bytes a mutated input may have (bolero's own default input size).
pub const MAX_LEN: usize = 4096;

/// One edit at a position (taken modulo the input length).
#[derive(Debug, Clone, TypeGenerator)]
pub enum Edit {
    /// Replace the byte at `at`.
    Set { at: u16, byte: u8 },
    /// Insert `byte` before `at`.
    Insert { at: u16, byte: u8 },
    /// Remove the byte at `at`.
    Remove { at: u16 },
    /// Keep only the first `at` bytes.
    Truncate { at: u16 },
    /// Repeat the `len` bytes from `at` right after them.
    Duplicate { at: u16, len: u8 },
    /// Insert `bytes` before `at`.
    Splice { at: u16, bytes: Vec<u8> },
}

/// A generated input: raw bytes, or a seed with edits.
#[derive(Debug, Clone, TypeGenerator)]
pub enum Mutated {
    /// Bytes as generated.
    Raw(Vec<u8>),
    /// Seed number `seed` (modulo the corpus size) with `edits` applied in order.
    Seed { seed: u16, edits: Vec<Edit> },
}

impl Mutated {
    /// The input bytes, at most [`MAX_LEN`].
    pub fn apply(&self, seeds: &[Vec<u8>]) -> Vec<u8> {
        let mut out = match self {
            Mutated::Raw(bytes) => return bytes[..bytes.len().min(MAX_LEN)].to_vec(),
            Mutated::Seed { seed, .. } => seeds[usize::from(*seed) % seeds.len()].clone(),
        };
        let Mutated::Seed { edits, .. } = self else {
            unreachable!("raw inputs returned above")
        };
        for edit in edits {
            apply_edit(&mut out, edit);
            out.truncate(MAX_LEN);
        }
        out
    }
}

fn apply_edit(out: &mut Vec<u8>, edit: &Edit) {
    let pos = |at: u16, len: usize| usize::from(at) % (len + 1);
    match edit {
        Edit::Set { at, byte } if !out.is_empty() => {
            let i = usize::from(*at) % out.len();
            out[i] = *byte;
        }
        Edit::Insert { at, byte } => out.insert(pos(*at, out.len()), *byte),
        Edit::Remove { at } if !out.is_empty() => {
            out.remove(usize::from(*at) % out.len());
        }
        Edit::Truncate { at } => out.truncate(pos(*at, out.len())),
        Edit::Duplicate { at, len } => {
            let start = pos(*at, out.len());
            let end = (start + usize::from(*len)).min(out.len());
            let copy = out[start..end].to_vec();
            out.splice(end..end, copy);
        }
        Edit::Splice { at, bytes } => {
            let i = pos(*at, out.len());
            out.splice(i..i, bytes.iter().copied());
        }
        Edit::Set { .. } | Edit::Remove { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_apply_at_positions_modulo_the_length() {
        let seeds = vec![b"abcdef".to_vec()];
        let m = Mutated::Seed {
            seed: 7,
            edits: vec![
                Edit::Set { at: 6, byte: b'X' },
                Edit::Duplicate { at: 1, len: 2 },
                Edit::Remove { at: 0 },
                Edit::Truncate { at: 5 },
                Edit::Splice {
                    at: 0,
                    bytes: b"<>".to_vec(),
                },
            ],
        };
        assert_eq!(m.apply(&seeds), b"<>bcbcd".to_vec());
        assert_eq!(Mutated::Raw(vec![1; 5000]).apply(&seeds).len(), MAX_LEN);
    }
}
