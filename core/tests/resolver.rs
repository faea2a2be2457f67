//! Resolver-pool decisions (PROTOCOL.md §9) driven against scripted
//! upstreams: failover, cooldown, oracle demotion of lying resolvers.

use dmp_core::client::resolver::{PoolConfig, Reply, ResolverPool, Step};

const NOW: u64 = 1_000;

fn dmp(v: &str) -> Vec<String> {
    vec![format!("v=dmp1;t=chunk;d={v}")]
}

/// Resolve one name with `script(i)` as upstream i's reply; returns the
/// result and the upstreams asked, in order.
fn resolve(
    pool: &mut ResolverPool,
    now: u64,
    script: impl Fn(usize) -> Reply,
) -> (Vec<String>, Vec<usize>) {
    let mut lookup = pool.begin(now);
    let mut asked = Vec::new();
    let mut reply = None;
    loop {
        match pool.next(&mut lookup, reply.take(), now) {
            Step::Query(i) => {
                asked.push(i);
                reply = Some(script(i));
            }
            Step::Done(v) => return (v, asked),
        }
    }
}

#[test]
fn first_dmp_answer_wins_in_priority_order() {
    let mut pool = ResolverPool::new(3);
    let (v, asked) = resolve(&mut pool, NOW, |_| Reply::Answer(dmp("a")));
    assert_eq!(v, dmp("a"));
    assert_eq!(asked, vec![0]);
}

#[test]
fn nxdomain_liar_is_demoted_by_a_later_answer() {
    let mut pool = ResolverPool::new(2);
    let liar = |i: usize| {
        if i == 0 {
            Reply::NotFound
        } else {
            Reply::Answer(dmp("x"))
        }
    };
    let (v, asked) = resolve(&mut pool, NOW, liar);
    assert_eq!((v, asked), (dmp("x"), vec![0, 1]));
    assert!(pool.is_cooling(0, NOW + 1));
    assert_eq!(pool.health(0).unwrap().lies, 1);
    // Next lookup asks the honest host first.
    let (_, asked) = resolve(&mut pool, NOW + 1, liar);
    assert_eq!(asked, vec![1]);
    // After the cooldown the liar is back in its place.
    assert!(!pool.is_cooling(0, NOW + 60));
    let (_, asked) = resolve(&mut pool, NOW + 60, liar);
    assert_eq!(asked, vec![0, 1]);
}

#[test]
fn wrong_txt_counts_as_a_lie_when_disproven() {
    let mut pool = ResolverPool::new(2);
    let (v, asked) = resolve(&mut pool, NOW, |i| {
        if i == 0 {
            Reply::Answer(vec!["v=spf1 -all".into()])
        } else {
            Reply::Answer(dmp("ok"))
        }
    });
    assert_eq!((v, asked), (dmp("ok"), vec![0, 1]));
    assert!(pool.is_cooling(0, NOW));
    assert!(!pool.is_cooling(1, NOW));
}

#[test]
fn agreement_on_absence_demotes_nobody() {
    let mut pool = ResolverPool::new(2);
    let (v, asked) = resolve(&mut pool, NOW, |_| Reply::NotFound);
    assert!(v.is_empty());
    assert_eq!(asked, vec![0, 1]);
    assert!(!pool.is_cooling(0, NOW) && !pool.is_cooling(1, NOW));
}

#[test]
fn down_host_fails_over_then_is_skipped_for_absent_names() {
    let mut pool = ResolverPool::new(2);
    let down = |i: usize| {
        if i == 0 {
            Reply::Failed
        } else {
            Reply::NotFound
        }
    };
    let (_, asked) = resolve(&mut pool, NOW, down);
    assert_eq!(asked, vec![0, 1]);
    assert!(pool.is_cooling(0, NOW));
    // While it cools, an absent name costs one query to the healthy host.
    for t in 1..10 {
        let (v, asked) = resolve(&mut pool, NOW + t, down);
        assert!(v.is_empty());
        assert_eq!(asked, vec![1]);
    }
}

#[test]
fn cooling_hosts_are_asked_when_nobody_healthy_answers() {
    let mut p = ResolverPool::with_config(
        3,
        PoolConfig {
            cooldown_secs: 60,
            failure_threshold: 1,
        },
    );
    resolve(&mut p, 5, |i| match i {
        0 | 1 => Reply::Failed,
        _ => Reply::Answer(dmp("z")),
    });
    // 0 and 1 failed at t=5; now fail 2 at t=7.
    resolve(&mut p, 7, |i| match i {
        2 => Reply::Failed,
        _ => Reply::Answer(dmp("q")),
    });
    // All cooling: oldest failure first (0, 1 tie broken by priority), the
    // pool never blackholes.
    let (v, asked) = resolve(&mut p, 8, |i| {
        if i == 1 {
            Reply::Answer(dmp("late"))
        } else {
            Reply::Failed
        }
    });
    assert_eq!(v, dmp("late"));
    assert_eq!(asked, vec![0, 1]);
}

#[test]
fn stale_replies_and_empty_pools_are_harmless() {
    let mut pool = ResolverPool::new(0);
    let mut l = pool.begin(NOW);
    assert_eq!(pool.next(&mut l, None, NOW), Step::Done(vec![]));
    assert_eq!(
        pool.next(&mut l, Some(Reply::Answer(dmp("x"))), NOW),
        Step::Done(vec![])
    );
    let mut pool = ResolverPool::new(1);
    let mut l = pool.begin(NOW);
    // A reply before any query was handed out is ignored.
    assert_eq!(
        pool.next(&mut l, Some(Reply::Answer(dmp("x"))), NOW),
        Step::Query(0)
    );
}

#[test]
fn concurrent_agreement_does_not_undo_a_demotion() {
    let mut pool = ResolverPool::new(2);
    // Two lookups start together, both ask the liar (0) first.
    let mut absent = pool.begin(NOW);
    let mut present = pool.begin(NOW);
    assert_eq!(pool.next(&mut absent, None, NOW), Step::Query(0));
    assert_eq!(pool.next(&mut present, None, NOW), Step::Query(0));
    assert_eq!(
        pool.next(&mut present, Some(Reply::NotFound), NOW),
        Step::Query(1)
    );
    assert_eq!(
        pool.next(&mut present, Some(Reply::Answer(dmp("m"))), NOW),
        Step::Done(dmp("m"))
    );
    assert!(pool.is_cooling(0, NOW));
    // The other lookup now hears "absent" from both: 0 stays demoted.
    assert_eq!(
        pool.next(&mut absent, Some(Reply::NotFound), NOW),
        Step::Query(1)
    );
    assert_eq!(
        pool.next(&mut absent, Some(Reply::NotFound), NOW),
        Step::Done(vec![])
    );
    assert!(pool.is_cooling(0, NOW + 1));
}
