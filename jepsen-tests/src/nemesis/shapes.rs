//! Partition shapes as pure data: which directed links drop. `(from, to)` in [`Drops`] means
//! packets from `from` to `to` are dropped. Random choices are made by the caller (it passes the
//! other masters already shuffled), so every shape here is deterministic and unit tested.

use std::collections::BTreeSet;

/// Directed links that drop.
pub type Drops = BTreeSet<(u8, u8)>;

/// Cuts every link between the two sides, both directions.
pub fn split(a: &[u8], b: &[u8]) -> Drops {
    let mut d = Drops::new();
    for &x in a {
        for &y in b {
            d.insert((x, y));
            d.insert((y, x));
        }
    }
    d
}

/// `target` cut from every one of `others`.
pub fn isolate(target: u8, others: &[u8]) -> Drops {
    split(&[target], others)
}

/// The leader and `(n-1)/2 - 1` of the others on the minority side (n = cluster size).
/// Returns (minority, majority, drops).
pub fn leader_minority(leader: u8, others: &[u8]) -> (Vec<u8>, Vec<u8>, Drops) {
    let n = others.len() + 1;
    let take = ((n - 1) / 2).saturating_sub(1).min(others.len());
    let mut minority = vec![leader];
    minority.extend_from_slice(&others[..take]);
    let majority = others[take..].to_vec();
    let d = split(&minority, &majority);
    (minority, majority, d)
}

/// The leader and `n/2` of the others on the majority side. Returns (majority, minority, drops).
pub fn leader_majority(leader: u8, others: &[u8]) -> (Vec<u8>, Vec<u8>, Drops) {
    let n = others.len() + 1;
    let take = (n / 2).min(others.len());
    let mut majority = vec![leader];
    majority.extend_from_slice(&others[..take]);
    let minority = others[take..].to_vec();
    let d = split(&majority, &minority);
    (majority, minority, d)
}

/// Each master sees a majority, no two the same one. `ring` is every master in a random order.
///
/// Links are symmetric (TCP needs both directions: a one-way "sees" is a total cut for Raft),
/// so for n ≥ 5 each master keeps links to the neighbours within radius `m/2` on the ring
/// (m = majority size) and loses the rest. For n = 3 no symmetric shape gives all three masters
/// different majorities; the nearest is one cut between `ring[1]` and `ring[2]`: they see
/// different majorities and `ring[0]` (pass the leader first) sees everyone.
pub fn majority_ring(ring: &[u8]) -> Drops {
    let n = ring.len();
    let mut d = Drops::new();
    if n < 3 {
        return d;
    }
    if n == 3 {
        return split(&[ring[1]], &[ring[2]]);
    }
    let majority = n / 2 + 1;
    let radius = majority / 2;
    for i in 0..n {
        for j in (i + 1)..n {
            let dist = (j - i).min(n - (j - i));
            if dist > radius {
                d.extend(split(&[ring[i]], &[ring[j]]));
            }
        }
    }
    d
}

/// Two halves joined by one master that sees both: `others[0]` is the bridge, the leader and
/// the first half of the rest form one side. 3 masters: the leader and `others[1]` are cut from
/// each other. Returns (bridge, drops).
pub fn bridge(leader: u8, others: &[u8]) -> Option<(u8, Drops)> {
    let (&bridge, rest) = others.split_first()?;
    let mut sides = vec![leader];
    sides.extend_from_slice(rest);
    let half = sides.len().div_ceil(2);
    let (a, b) = sides.split_at(half);
    Some((bridge, split(a, b)))
}

/// Everything `from` sends to `others` drops; their traffic to `from` still arrives.
pub fn one_way_out(from: u8, others: &[u8]) -> Drops {
    others.iter().map(|&o| (from, o)).collect()
}

/// Whether `a` and `b` can talk in both directions.
pub fn connected(d: &Drops, a: u8, b: u8) -> bool {
    !d.contains(&(a, b)) && !d.contains(&(b, a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(d: &Drops) -> Vec<(u8, u8)> {
        d.iter().copied().collect()
    }

    #[test]
    fn three_masters() {
        // Leader 2, others in the (already shuffled) order 3, 1.
        assert_eq!(pairs(&isolate(2, &[3, 1])), vec![(1, 2), (2, 1), (2, 3), (3, 2)]);
        let (min, maj, d) = leader_minority(2, &[3, 1]);
        assert_eq!((min, maj), (vec![2], vec![3, 1]));
        assert_eq!(d, isolate(2, &[3, 1]));
        let (maj, min, d) = leader_majority(2, &[3, 1]);
        assert_eq!((maj, min), (vec![2, 3], vec![1]));
        assert_eq!(pairs(&d), vec![(1, 2), (1, 3), (2, 1), (3, 1)]);
        assert_eq!(pairs(&majority_ring(&[2, 3, 1])), vec![(1, 3), (3, 1)]);
        let (b, d) = bridge(2, &[3, 1]).expect("bridge");
        assert_eq!(b, 3);
        assert_eq!(pairs(&d), vec![(1, 2), (2, 1)]);
        assert_eq!(pairs(&one_way_out(2, &[3, 1])), vec![(2, 1), (2, 3)]);
    }

    #[test]
    fn five_masters() {
        let (min, maj, _) = leader_minority(1, &[2, 3, 4, 5]);
        assert_eq!((min.len(), maj.len()), (2, 3));
        let (maj, min, _) = leader_majority(1, &[2, 3, 4, 5]);
        assert_eq!((maj.len(), min.len()), (3, 2));
        let (b, d) = bridge(1, &[2, 3, 4, 5]).expect("bridge");
        assert_eq!(b, 2);
        for x in [1, 3, 4, 5] {
            assert!(connected(&d, b, x));
        }
        assert!(!connected(&d, 1, 5) && connected(&d, 1, 3));
    }

    /// The ring's defining property: every master sees a majority (itself included), and no
    /// two see the same set.
    #[test]
    fn ring_majorities_are_all_different() {
        for n in [5u8, 7] {
            let ring: Vec<u8> = (1..=n).rev().collect();
            let d = majority_ring(&ring);
            let views: BTreeSet<Vec<u8>> = ring
                .iter()
                .map(|&a| ring.iter().copied().filter(|&b| a == b || connected(&d, a, b)).collect())
                .collect();
            assert_eq!(views.len(), n as usize, "n={n}: {views:?}");
            assert!(views.iter().all(|v| v.len() > n as usize / 2), "n={n}: {views:?}");
        }
    }
}
