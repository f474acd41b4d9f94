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
    // In 4 KiB pieces: one update per value (4 bytes) ran BLAKE3 far below its speed.
    let mut buf = [0u8; 4096];
    for chunk in values.chunks(buf.len() / 4) {
        for (b, v) in buf.chunks_exact_mut(4).zip(chunk) {
            b.copy_from_slice(&v.to_le_bytes());
        }
        hasher.update(&buf[..chunk.len() * 4]);
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
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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

/// Whether `leaf` is leaf `proof.index` of a tree of `leaves` leaves whose root is `root`. The
/// path's directions come from the index and the tree's size, never from the proof's own flags,
/// and the path must have exactly the length that leaf's has: a proof cannot move a leaf to
/// another index.
pub fn verify(root_hash: &Hash, leaf: &Hash, leaves: usize, proof: &Proof) -> bool {
    let (mut i, mut n) = (proof.index, leaves);
    if i >= n {
        return false;
    }
    let mut acc = *leaf;
    let mut siblings = proof.siblings.iter();
    while n > 1 {
        if i % 2 == 1 {
            match siblings.next() {
                Some((sibling, true)) => acc = node(sibling, &acc),
                _ => return false,
            }
        } else if i + 1 < n {
            match siblings.next() {
                Some((sibling, false)) => acc = node(&acc, sibling),
                _ => return false,
            }
        } // else the last node of an odd level moves up unchanged
        i /= 2;
        n = n.div_ceil(2);
    }
    siblings.next().is_none() && &acc == root_hash
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
                assert!(verify(&r, &l[i], n, &proof), "leaf {i} of {n}");
            }
        }
    }

    #[test]
    fn a_changed_output_fails_its_proof() {
        let l = leaves(6);
        let r = root(&l);
        let proof = prove(&l, 3).expect("in range");
        let forged = output_hash(&[3.0, 1.000_000_1]);
        assert!(!verify(&r, &forged, 6, &proof), "a different output must not verify");
        assert!(!verify(&r, &l[2], 6, &proof), "another leaf must not verify at index 3");
    }

    /// A proof's own index and flags cannot move a leaf: the directions come from the index and
    /// the tree's size, and the path must have the leaf's length.
    #[test]
    fn attack_a_proof_relabelled_to_another_index_or_size_does_not_verify() {
        for n in 2..=9 {
            let l = leaves(n);
            let r = root(&l);
            for i in 0..n {
                let proof = prove(&l, i).expect("in range");
                for j in (0..n).filter(|&j| j != i) {
                    let moved = Proof { index: j, ..proof.clone() };
                    assert!(!verify(&r, &l[i], n, &moved), "leaf {i} of {n} passed as leaf {j}");
                }
                let mut flipped = proof.clone();
                if let Some(first) = flipped.siblings.first_mut() {
                    first.1 = !first.1;
                    assert!(!verify(&r, &l[i], n, &flipped), "a flipped direction at leaf {i} of {n}");
                }
                let mut longer = proof.clone();
                longer.siblings.push((l[0], false));
                assert!(!verify(&r, &l[i], n, &longer), "a path one step too long at leaf {i} of {n}");
            }
        }
        // A one-leaf tree: the leaf is the root, with an empty path only.
        let one = leaves(1);
        assert!(verify(&root(&one), &one[0], 1, &Proof { index: 0, siblings: vec![] }));
        assert!(!verify(&root(&one), &one[0], 1, &Proof { index: 0, siblings: vec![(one[0], false)] }));
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
