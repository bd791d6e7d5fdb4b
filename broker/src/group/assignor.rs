//! KIP-848's server-side assignors: `uniform` (the default) and `range`.
//!
//! Both take the members' subscriptions and the subscribed topics' partition counts, and give
//! every member its target partitions. They are pure functions of their input, so a group's
//! target is the same on every run.
//!
//! # Deviations from Kafka
//! Kafka's `UniformAssignor` and `RangeAssignor` promise the same properties as these (every
//! subscribed partition assigned once; `uniform`: balanced to within one partition among
//! members that could take it, and sticky; `range`: for each topic, the members subscribed to
//! it, sorted by member id, take contiguous ranges, the first `partitions % members` one
//! more), but may pick other partitions for a member than Kafka would when several answers
//! have those properties. Tests and users should assert on the properties, not on which
//! member got which partition.

use std::collections::{BTreeMap, BTreeSet};

/// A member's subscription, as an assignor sees it: the subscribed topic names that exist.
pub(crate) type Subscriptions<'a> = BTreeMap<&'a str, BTreeSet<&'a str>>;

/// Partitions by topic name.
pub(crate) type Partitions = BTreeMap<String, BTreeSet<i32>>;

/// The assignors served, in preference order; the first is the default.
pub(crate) const ASSIGNORS: [&str; 2] = ["uniform", "range"];

/// Runs assignor `name` (one of [`ASSIGNORS`]; anything else is `uniform`).
/// `previous` is each member's current target, for stickiness.
pub(crate) fn assign(
    name: &str,
    members: &Subscriptions<'_>,
    topics: &BTreeMap<String, i32>,
    previous: &BTreeMap<String, Partitions>,
) -> BTreeMap<String, Partitions> {
    match name {
        "range" => range(members, topics),
        _ => uniform(members, topics, previous),
    }
}

/// Per topic, the subscribed members sorted by id take contiguous ranges of partitions.
fn range(members: &Subscriptions<'_>, topics: &BTreeMap<String, i32>) -> BTreeMap<String, Partitions> {
    let mut out: BTreeMap<String, Partitions> = members
        .keys()
        .map(|m| (m.to_string(), Partitions::new()))
        .collect();
    for (topic, &count) in topics {
        let subscribers: Vec<&str> = members
            .iter()
            .filter(|(_, topics)| topics.contains(topic.as_str()))
            .map(|(m, _)| *m)
            .collect();
        if subscribers.is_empty() || count <= 0 {
            continue;
        }
        let n = subscribers.len() as i32;
        let (quota, extra) = (count / n, count % n);
        let mut next = 0;
        for (i, member) in subscribers.iter().enumerate() {
            let take = quota + i32::from((i as i32) < extra);
            if take > 0 {
                if let Some(assigned) = out.get_mut(*member) {
                    assigned
                        .entry(topic.clone())
                        .or_default()
                        .extend(next..next + take);
                }
            }
            next += take;
        }
    }
    out
}

/// Every subscribed partition to one member: members keep what they had where they still may,
/// the rest go to the least loaded member that may take them, then partitions move from a
/// member to one that may take them and has at least two fewer, until none can.
fn uniform(
    members: &Subscriptions<'_>,
    topics: &BTreeMap<String, i32>,
    previous: &BTreeMap<String, Partitions>,
) -> BTreeMap<String, Partitions> {
    let mut owner: BTreeMap<(&str, i32), &str> = BTreeMap::new();
    let mut load: BTreeMap<&str, usize> = members.keys().map(|m| (*m, 0)).collect();
    let may_take = |member: &str, topic: &str| members.get(member).is_some_and(|t| t.contains(topic));
    // 1. Stickiness: previous targets that are still valid.
    for (member, partitions) in previous {
        let Some((member, _)) = members.get_key_value(member.as_str()) else {
            continue;
        };
        for (topic, indexes) in partitions {
            let Some((topic, &count)) = topics.get_key_value(topic.as_str()) else {
                continue;
            };
            if !may_take(member, topic) {
                continue;
            }
            for &p in indexes.iter().filter(|&&p| p < count) {
                if owner.insert((topic.as_str(), p), member).is_none() {
                    *load.entry(member).or_default() += 1;
                }
            }
        }
    }
    // 2. Partitions without an owner, those with the fewest candidates first.
    let mut unassigned: Vec<(usize, &str, i32)> = Vec::new();
    for (topic, &count) in topics {
        let candidates = members.values().filter(|t| t.contains(topic.as_str())).count();
        if candidates == 0 {
            continue;
        }
        for p in 0..count.max(0) {
            if !owner.contains_key(&(topic.as_str(), p)) {
                unassigned.push((candidates, topic.as_str(), p));
            }
        }
    }
    unassigned.sort();
    for (_, topic, p) in unassigned {
        let least = load
            .iter()
            .filter(|(m, _)| may_take(m, topic))
            .min_by_key(|(m, n)| (**n, **m))
            .map(|(m, _)| *m);
        if let Some(member) = least {
            owner.insert((topic, p), member);
            *load.entry(member).or_default() += 1;
        }
    }
    // 3. Balance: each move lowers the sum of squared loads, so this ends.
    loop {
        let mut moved = false;
        let mut by_load: Vec<(&str, usize)> = load.iter().map(|(m, n)| (*m, *n)).collect();
        by_load.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        'search: for &(from, from_load) in &by_load {
            for (&(topic, p), _) in owner.iter().filter(|(_, m)| **m == from) {
                let to = load
                    .iter()
                    .filter(|(m, n)| **m != from && **n + 2 <= from_load && may_take(m, topic))
                    .min_by_key(|(m, n)| (**n, **m))
                    .map(|(m, _)| *m);
                if let Some(to) = to {
                    owner.insert((topic, p), to);
                    *load.entry(from).or_default() -= 1;
                    *load.entry(to).or_default() += 1;
                    moved = true;
                    break 'search;
                }
            }
        }
        if !moved {
            break;
        }
    }
    let mut out: BTreeMap<String, Partitions> = members
        .keys()
        .map(|m| (m.to_string(), Partitions::new()))
        .collect();
    for ((topic, p), member) in owner {
        if let Some(assigned) = out.get_mut(member) {
            assigned.entry(topic.to_string()).or_default().insert(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn subs<'a>(list: &[(&'a str, &[&'a str])]) -> Subscriptions<'a> {
        list.iter()
            .map(|(m, t)| (*m, t.iter().copied().collect()))
            .collect()
    }

    fn count(a: &Partitions) -> usize {
        a.values().map(|p| p.len()).sum()
    }

    #[test]
    fn range_gives_contiguous_ranges_the_first_members_one_more() {
        let members = subs(&[("a", &["t"]), ("b", &["t"]), ("c", &["t"])]);
        let topics = BTreeMap::from([("t".to_string(), 7)]);
        let out = range(&members, &topics);
        let of = |m: &str| out[m]["t"].iter().copied().collect::<Vec<_>>();
        assert_eq!(of("a"), vec![0, 1, 2]);
        assert_eq!(of("b"), vec![3, 4]);
        assert_eq!(of("c"), vec![5, 6]);
    }

    #[test]
    fn uniform_is_sticky_when_a_member_joins() {
        let topics = BTreeMap::from([("t".to_string(), 4)]);
        let first = uniform(&subs(&[("a", &["t"])]), &topics, &BTreeMap::new());
        assert_eq!(count(&first["a"]), 4);
        let second = uniform(&subs(&[("a", &["t"]), ("b", &["t"])]), &topics, &first);
        assert_eq!((count(&second["a"]), count(&second["b"])), (2, 2));
        // a keeps two of its four; b only takes what a gave up.
        assert!(second["a"]["t"].is_subset(&first["a"]["t"]));
    }

    #[test]
    fn members_only_get_topics_they_subscribe_to() {
        let members = subs(&[("a", &["x"]), ("b", &["x", "y"])]);
        let topics = BTreeMap::from([("x".to_string(), 2), ("y".to_string(), 4)]);
        for out in [
            uniform(&members, &topics, &BTreeMap::new()),
            range(&members, &topics),
        ] {
            assert!(!out["a"].contains_key("y"));
            assert_eq!(out["b"]["y"].len(), 4);
        }
    }

    proptest! {
        /// Every subscribed partition is assigned exactly once, to a member subscribed to its
        /// topic, and with one subscription for all, loads differ by at most one (both
        /// assignors), also after a previous target changed membership.
        #[test]
        fn assignments_are_complete_exclusive_and_balanced(
            members in 1usize..7,
            partitions in proptest::collection::vec(0i32..9, 1..4),
            subscribed in proptest::collection::vec(proptest::collection::vec(any::<bool>(), 3), 7),
            homogeneous in any::<bool>(),
        ) {
            let names: Vec<String> = (0..members).map(|i| format!("m{i}")).collect();
            let topic_names = ["t0", "t1", "t2"];
            let topics: BTreeMap<String, i32> = partitions
                .iter()
                .enumerate()
                .map(|(i, &n)| (topic_names[i].to_string(), n))
                .collect();
            let members_subs: Subscriptions<'_> = names
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let set = topics
                        .keys()
                        .enumerate()
                        .filter(|(j, _)| homogeneous || subscribed[i][*j])
                        .map(|(_, t)| t.as_str())
                        .collect();
                    (m.as_str(), set)
                })
                .collect();
            let fewer: Subscriptions<'_> = members_subs.iter().skip(1).map(|(m, s)| (*m, s.clone())).collect();
            let before = uniform(&fewer, &topics, &BTreeMap::new());
            for out in [
                uniform(&members_subs, &topics, &BTreeMap::new()),
                uniform(&members_subs, &topics, &before),
                range(&members_subs, &topics),
            ] {
                for (topic, &n) in &topics {
                    let wanted = members_subs.values().any(|s| s.contains(topic.as_str()));
                    for p in 0..n {
                        let owners: Vec<&String> = out
                            .iter()
                            .filter(|(_, a)| a.get(topic).is_some_and(|s| s.contains(&p)))
                            .map(|(m, _)| m)
                            .collect();
                        prop_assert_eq!(owners.len(), usize::from(wanted), "{} {}", topic, p);
                        for m in owners {
                            prop_assert!(members_subs[m.as_str()].contains(topic.as_str()));
                        }
                    }
                }
                if homogeneous && topics.len() == 1 {
                    let loads: Vec<usize> = out.values().map(count).collect();
                    let (min, max) = (loads.iter().min().copied().unwrap_or(0), loads.iter().max().copied().unwrap_or(0));
                    prop_assert!(max - min <= 1, "{:?}", loads);
                }
            }
            if homogeneous {
                let out = uniform(&members_subs, &topics, &before);
                let loads: Vec<usize> = out.values().map(count).collect();
                let (min, max) = (loads.iter().min().copied().unwrap_or(0), loads.iter().max().copied().unwrap_or(0));
                prop_assert!(max - min <= 1, "{:?}", loads);
            }
        }
    }
}
