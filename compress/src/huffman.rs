//! Huffman code lengths, for the Huffman-coded size that Deep Compression reports.
//!
//! Only the sizes matter here (no bit stream is written): the optimal prefix-code length of each symbol
//! from its frequency, by the classic two-smallest merge.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Huffman code length of each symbol (0 for symbols that never occur; 1 when only one symbol occurs).
pub fn code_lengths(freq: &[u64]) -> Vec<u32> {
    let mut lengths = vec![0u32; freq.len()];
    let used: Vec<usize> = (0..freq.len()).filter(|&s| freq[s] > 0).collect();
    match used.len() {
        0 => return lengths,
        1 => {
            lengths[used[0]] = 1;
            return lengths;
        }
        _ => {}
    }
    // Nodes 0..n are leaves; merged nodes are appended. parent[] links each node to its merge.
    let mut parent: Vec<usize> = vec![usize::MAX; used.len()];
    let mut heap: BinaryHeap<Reverse<(u64, usize)>> = used
        .iter()
        .enumerate()
        .map(|(node, &s)| Reverse((freq[s], node)))
        .collect();
    while heap.len() > 1 {
        let Reverse((fa, a)) = heap.pop().expect("two nodes");
        let Reverse((fb, b)) = heap.pop().expect("two nodes");
        let node = parent.len();
        parent.push(usize::MAX);
        parent[a] = node;
        parent[b] = node;
        heap.push(Reverse((fa + fb, node)));
    }
    for (leaf, &s) in used.iter().enumerate() {
        let (mut depth, mut n) = (0, leaf);
        while parent[n] != usize::MAX {
            n = parent[n];
            depth += 1;
        }
        lengths[s] = depth;
    }
    lengths
}

/// Total bits of the Huffman-coded stream with symbol frequencies `freq`.
pub fn coded_bits(freq: &[u64]) -> u64 {
    code_lengths(freq)
        .iter()
        .zip(freq)
        .map(|(&l, &f)| l as u64 * f)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textbook_example() {
        // Frequencies 45, 13, 12, 16, 9, 5 (CLRS): lengths 1, 3, 3, 3, 4, 4; 224 bits.
        let f = [45, 13, 12, 16, 9, 5];
        assert_eq!(code_lengths(&f), vec![1, 3, 3, 3, 4, 4]);
        assert_eq!(coded_bits(&f), 224);
    }

    #[test]
    fn degenerate_alphabets() {
        assert_eq!(code_lengths(&[0, 0]), vec![0, 0]);
        assert_eq!(code_lengths(&[0, 7]), vec![0, 1]);
        // Uniform over 16 symbols: 4 bits each, as plain 4-bit codes.
        assert_eq!(code_lengths(&[3; 16]), vec![4; 16]);
    }

    #[test]
    fn kraft_equality_holds() {
        let f: Vec<u64> = (1..=40).map(|i| (i * i * 7919 % 1000) as u64 + 1).collect();
        let sum: f64 = code_lengths(&f)
            .iter()
            .map(|&l| 2f64.powi(-(l as i32)))
            .sum();
        assert!((sum - 1.0).abs() < 1e-12);
    }
}
