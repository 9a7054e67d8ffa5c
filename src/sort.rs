//! Sorting through one shared instance of the standard library's stable sort. `slice::sort_by`
//! and its kin are monomorphized for every element type and comparator, and each instance of
//! driftsort/ipnsort is 1-4 KB of Wasm: the 17 sorts of this crate linked 43 KB of
//! `core::slice::sort` (about 15 KB gzipped). Here the one instance sorts indices through a
//! `dyn` comparator, and a small generic step moves the elements into that order.
//!
//! The sort is stable; it stands in for the unstable sorts too, where equal elements are
//! indistinguishable (names) or the order is total, so the result is the same. Socket ids keep
//! the standard sort (one instance for one type, on the hot path of every broadcast).

use std::cmp::Ordering;

/// Sorts `v` by `cmp`, stably.
pub(crate) fn sort_by<T>(v: &mut [T], mut cmp: impl FnMut(&T, &T) -> Ordering) {
    if v.len() < 2 {
        return;
    }
    let order = order(v.len(), &mut |a, b| cmp(&v[a], &v[b]));
    permute(v, order);
}

/// Sorts `v` in its natural order.
pub(crate) fn sort<T: Ord>(v: &mut [T]) {
    sort_by(v, T::cmp);
}

/// Sorts `v` by the key `f` gives, stably.
pub(crate) fn sort_by_key<T, K: Ord>(v: &mut [T], mut f: impl FnMut(&T) -> K) {
    sort_by(v, |a, b| f(a).cmp(&f(b)));
}

/// The indices `0..n` in the order `cmp` gives them (the one instance of the sort).
#[inline(never)]
fn order(n: usize, cmp: &mut dyn FnMut(usize, usize) -> Ordering) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| cmp(a, b));
    idx
}

/// Moves the elements so that position `i` holds the one that was at `order[i]`, cycle by cycle.
fn permute<T>(v: &mut [T], mut order: Vec<usize>) {
    for i in 0..v.len() {
        if order[i] == usize::MAX {
            continue;
        }
        let mut j = i;
        loop {
            let k = order[j];
            order[j] = usize::MAX;
            if k == i {
                break;
            }
            v.swap(j, k);
            j = k;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_like_the_standard_library_and_stably() {
        let mut seed = 7u64;
        for n in 0..60 {
            let v: Vec<(u8, usize)> = (0..n)
                .map(|i| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((seed >> 60) as u8, i)
                })
                .collect();
            let mut ours = v.clone();
            sort_by_key(&mut ours, |x| x.0);
            let mut std = v.clone();
            std.sort_by_key(|x| x.0);
            assert_eq!(ours, std);
            let mut ours = v.clone();
            sort(&mut ours);
            let mut std = v;
            std.sort_unstable();
            assert_eq!(ours, std);
        }
    }
}
