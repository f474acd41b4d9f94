//! Execution commitments: a BLAKE3 hash of each dispatch's output, and a Merkle root over the
//! sequence. The root is what providers commit on chain; a proof opens any single dispatch, so a
//! dispute shrinks to re-running that one dispatch.
//!
//! Leaves are `BLAKE3(0x00 || output bytes)`, inner nodes `BLAKE3(0x01 || left || right)`; an
//! odd node at the end of a level moves up unchanged. The domain bytes keep a leaf from ever
//! passing for an inner node.

pub type Hash = [u8; 32];

/// The hash of one dispatch's output buffer (little-endian f32 bytes).
pub fn output_hash(values: &[f32]) -> Hash {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&[0x00]);
    for v in values {
        hasher.update(&v.to_le_bytes());
    }
    *hasher.finalize().as_bytes()
}

fn node(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&[0x01]);
    hasher.update(left);
    hasher.update(right);
    *hasher.finalize().as_bytes()
}

/// The Merkle root over dispatch hashes in order. The root of no dispatch is all zeros.
pub fn root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return [0; 32];
    }
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        level = level.chunks(2).map(|pair| if pair.len() == 2 { node(&pair[0], &pair[1]) } else { pair[0] }).collect();
    }
    level[0]
}

/// The sibling path that opens leaf `index`: `(sibling, sibling_is_left)` from the bottom up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub index: usize,
    pub siblings: Vec<(Hash, bool)>,
}

/// A proof for leaf `index`, or `None` when out of range.
pub fn prove(leaves: &[Hash], index: usize) -> Option<Proof> {
    if index >= leaves.len() {
        return None;
    }
    let mut siblings = Vec::new();
    let mut level = leaves.to_vec();
    let mut i = index;
    while level.len() > 1 {
        let sibling = if i % 2 == 1 { Some((level[i - 1], true)) } else { level.get(i + 1).map(|h| (*h, false)) };
        if let Some(s) = sibling {
            siblings.push(s);
        }
        level = level.chunks(2).map(|pair| if pair.len() == 2 { node(&pair[0], &pair[1]) } else { pair[0] }).collect();
        i /= 2;
    }
    Some(Proof { index, siblings })
}

/// Whether `leaf` at the proof's index belongs to the tree with `root`.
pub fn verify(root_hash: &Hash, leaf: &Hash, proof: &Proof) -> bool {
    let mut acc = *leaf;
    for (sibling, sibling_is_left) in &proof.siblings {
        acc = if *sibling_is_left { node(sibling, &acc) } else { node(&acc, sibling) };
    }
    &acc == root_hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| output_hash(&[i as f32, 1.0])).collect()
    }

    #[test]
    fn every_leaf_of_every_tree_size_proves_against_the_root() {
        for n in 1..=17 {
            let l = leaves(n);
            let r = root(&l);
            for i in 0..n {
                let proof = prove(&l, i).expect("in range");
                assert!(verify(&r, &l[i], &proof), "leaf {i} of {n}");
            }
        }
    }

    #[test]
    fn a_changed_output_fails_its_proof() {
        let l = leaves(6);
        let r = root(&l);
        let proof = prove(&l, 3).expect("in range");
        let forged = output_hash(&[3.0, 1.000_000_1]);
        assert!(!verify(&r, &forged, &proof), "a different output must not verify");
        assert!(!verify(&r, &l[2], &proof), "another leaf must not verify at index 3");
    }

    #[test]
    fn one_bit_of_one_output_changes_the_root() {
        let mut a = vec![1.0f32; 64];
        let before = root(&[output_hash(&a)]);
        a[17] = f32::from_bits(a[17].to_bits() ^ 1);
        assert_ne!(before, root(&[output_hash(&a)]));
    }

    #[test]
    fn out_of_range_has_no_proof() {
        assert!(prove(&leaves(3), 3).is_none());
    }
}
