//! Cluster-mode client logic: manifest install and refresh, quorum writes,
//! union reads, and the two-hop bootstrap trust chain.

use dmp_core::client::cluster::*;
use dmp_core::crypto::Signer25519;
use dmp_core::records::bootstrap::{BootstrapEntry, BootstrapRecord};
use dmp_core::records::cluster::{ClusterManifest, ClusterNode};

const NOW: u64 = 1_900_000_000;
const BASE: &str = "mesh.example.com";

fn node(id: &str) -> ClusterNode {
    ClusterNode {
        node_id: id.into(),
        http_endpoint: format!("https://{id}.mesh.example.com:8053"),
        dns_endpoint: Some(format!("{id}.mesh.example.com:53")),
    }
}

fn manifest_with(
    signer: &Signer25519,
    base: &str,
    seq: u64,
    exp: u64,
    nodes: Vec<ClusterNode>,
) -> String {
    ClusterManifest {
        cluster_name: base.into(),
        operator_spk: signer.public(),
        nodes,
        seq,
        exp,
    }
    .to_wire(signer)
    .unwrap()
}

fn manifest(signer: &Signer25519, seq: u64, ids: &[&str]) -> String {
    manifest_with(
        signer,
        BASE,
        seq,
        NOW + 3600,
        ids.iter().map(|i| node(i)).collect(),
    )
}

fn op() -> Signer25519 {
    Signer25519::from_seed(&[11u8; 32])
}

#[test]
fn quorum_is_the_ceiling_of_half() {
    let q: Vec<usize> = (0..=6).map(quorum).collect();
    assert_eq!(q, [0, 1, 1, 2, 2, 3, 3]);
}

#[test]
fn install_takes_the_highest_seq_that_verifies_under_the_pinned_key() {
    let op = op();
    let rogue = Signer25519::from_seed(&[12u8; 32]);
    let other_base = manifest_with(&op, "other.example", 9, NOW + 10, vec![node("x")]);
    let values = [
        manifest(&op, 3, &["n1", "n2"]),
        manifest(&rogue, 50, &["evil"]),
        other_base,
        "v=spf1 -all".to_string(),
        manifest(&op, 4, &["n1", "n2", "n3"]),
    ];
    let view =
        ClusterView::install(values.iter().map(String::as_str), &op.public(), BASE, NOW).unwrap();
    assert_eq!(view.seq(), 4);
    assert_eq!(view.quorum(), 2);
    let ids: Vec<&str> = view.nodes().iter().map(|n| n.node_id.as_str()).collect();
    assert_eq!(ids, ["n1", "n2", "n3"]);
    assert_eq!(view.base(), BASE);
    assert_eq!(
        ClusterView::manifest_name("Mesh.Example.com.").unwrap(),
        "cluster.Mesh.Example.com"
    );

    // Nothing under the pinned key: refused, with a reason.
    let err = ClusterView::install(
        [manifest(&rogue, 1, &["n1"]).as_str()],
        &op.public(),
        BASE,
        NOW,
    )
    .unwrap_err();
    assert_eq!(err, ClusterError::NoValidManifest);
    assert!(err.to_string().contains("pinned operator key"));
}

#[test]
fn install_refuses_unusable_endpoints() {
    let op = op();
    let mut bad = node("n2");
    bad.http_endpoint = "ftp://n2.example".into();
    let wire = manifest_with(&op, BASE, 1, NOW + 60, vec![node("n1"), bad]);
    let err = ClusterView::install([wire.as_str()], &op.public(), BASE, NOW).unwrap_err();
    assert!(
        matches!(&err, ClusterError::BadEndpoint { node_id, .. } if node_id == "n2"),
        "{err:?}"
    );
    let mut bad_dns = node("n3");
    bad_dns.dns_endpoint = Some("n3.example:0".into());
    let wire = manifest_with(&op, BASE, 1, NOW + 60, vec![bad_dns]);
    assert!(matches!(
        ClusterView::install([wire.as_str()], &op.public(), BASE, NOW),
        Err(ClusterError::BadEndpoint { .. })
    ));
    let mut v6 = node("n4");
    v6.http_endpoint = "http://[2001:db8::1]:8053".into();
    v6.dns_endpoint = Some("[2001:db8::1]:53".into());
    let wire = manifest_with(&op, BASE, 1, NOW + 60, vec![v6]);
    assert!(ClusterView::install([wire.as_str()], &op.public(), BASE, NOW).is_ok());
}

#[test]
fn refresh_swaps_only_to_a_strictly_higher_seq_and_never_half_applies() {
    let op = op();
    let mut view = ClusterView::install(
        [manifest(&op, 5, &["n1", "n2"]).as_str()],
        &op.public(),
        BASE,
        NOW,
    )
    .unwrap();
    let before = view.clone();

    // Same and lower seq: refused, unchanged.
    for seq in [4, 5] {
        let wire = manifest(&op, seq, &["n9"]);
        let err = view.refresh([wire.as_str()], NOW).unwrap_err();
        assert_eq!(
            err,
            ClusterError::NotNewer {
                installed: 5,
                offered: seq
            }
        );
        assert_eq!(view, before);
    }
    // Higher seq but expired, or with a bad node: refused, unchanged.
    let expired = manifest_with(&op, BASE, 6, NOW - 1, vec![node("n1")]);
    assert!(view.refresh([expired.as_str()], NOW).is_err());
    let mut bad = node("n3");
    bad.http_endpoint = "n3.example".into();
    let broken = manifest_with(&op, BASE, 7, NOW + 60, vec![node("n1"), bad]);
    assert!(view.refresh([broken.as_str()], NOW).is_err());
    assert_eq!(view, before);
    // A higher, valid seq among older values wins.
    let next = manifest(&op, 8, &["n1", "n2", "n3", "n4", "n5"]);
    let old = manifest(&op, 5, &["n1", "n2"]);
    assert_eq!(view.refresh([old.as_str(), next.as_str()], NOW), Ok(5));
    assert_eq!(view.seq(), 8);
    assert_eq!(view.quorum(), 3);
}

#[test]
fn reads_route_to_the_cluster_only_under_its_base() {
    let op = op();
    let view = ClusterView::install(
        [manifest(&op, 1, &["n1"]).as_str()],
        &op.public(),
        BASE,
        NOW,
    )
    .unwrap();
    assert!(view.routes_here("mesh.example.com"));
    assert!(view.routes_here("slot-3.mb-0123456789ab.MESH.example.com."));
    assert!(!view.routes_here("xmesh.example.com"));
    assert!(!view.routes_here("example.com"));
    assert!(!view.routes_here("slot-1.mb-0123456789ab.other.example"));
}

#[test]
fn a_write_succeeds_on_quorum_and_names_the_nodes_that_failed() {
    let op = op();
    let view = ClusterView::install(
        [manifest(&op, 1, &["n1", "n2", "n3"]).as_str()],
        &op.public(),
        BASE,
        NOW,
    )
    .unwrap();

    let mut w = WritePlan::new(&view);
    assert_eq!(w.targets().len(), 3);
    assert_eq!(w.needed(), 2);
    w.ack("n1");
    w.ack("n1"); // repeated
    w.ack("nobody"); // unknown
    assert_eq!(w.outcome(), WriteOutcome::Pending);
    w.fail("n3", "connection refused");
    assert_eq!(w.outcome(), WriteOutcome::Pending);
    w.ack("n2");
    assert_eq!(w.outcome(), WriteOutcome::Succeeded);
    let report = w.finish().unwrap();
    assert_eq!(report.acked, ["n1", "n2"]);
    assert_eq!(
        report.failures,
        [("n3".to_string(), "connection refused".to_string())]
    );

    let mut w = WritePlan::new(&view);
    w.fail("n1", "connection refused");
    assert_eq!(w.outcome(), WriteOutcome::Pending);
    w.fail("n2", "HTTP 401 unauthorized");
    assert_eq!(w.outcome(), WriteOutcome::Failed);
    w.ack("n2"); // after its failure: ignored
    let err = w.finish().unwrap_err();
    assert_eq!((err.acked, err.needed, err.total), (0, 2, 3));
    assert_eq!(
        err.to_string(),
        "write reached 0 of 3 nodes, 2 needed: n1: connection refused; \
         n2: HTTP 401 unauthorized; n3: no answer before the deadline"
    );

    // Deadline with one ack of three: failure naming the silent nodes.
    let mut w = WritePlan::new(&view);
    w.ack("n3");
    let err = w.finish().unwrap_err();
    assert_eq!(err.acked, 1);
    assert_eq!(err.failures.len(), 2);
}

#[test]
fn union_reads_merge_in_arrival_order_without_duplicates() {
    let op = op();
    let view = ClusterView::install(
        [manifest(&op, 1, &["n1", "n2", "n3"]).as_str()],
        &op.public(),
        BASE,
        NOW,
    )
    .unwrap();
    let mut r = UnionRead::new(&view, "prekeys.id-0123456789ab.mesh.example.com");
    assert_eq!(r.pending().count(), 3);
    r.answer("n2", &["b", "a"]);
    r.answer("n2", &["late duplicate answer"]); // a node answers once
    r.answer("n1", &["a", "c"]);
    assert!(!r.is_done());
    r.fail("n3", "timed out");
    assert!(r.is_done());
    assert_eq!(r.failures(), [("n3".to_string(), "timed out".to_string())]);
    assert_eq!(r.finish().unwrap(), ["b", "a", "c"]);

    let mut empty = UnionRead::new(&view, "nothing.mesh.example.com");
    empty.answer::<&str>("n1", &[]);
    empty.answer::<&str>("n2", &[]);
    assert_eq!(empty.finish(), None);
}

fn bootstrap(signer: &Signer25519, seq: u64, entries: Vec<BootstrapEntry>) -> String {
    BootstrapRecord {
        user_domain: "example.com".into(),
        signer_spk: signer.public(),
        entries,
        seq,
        exp: NOW + 3600,
    }
    .to_wire(signer)
    .unwrap()
}

#[test]
fn bootstrap_walks_to_the_first_cluster_that_verifies_under_its_entry_key() {
    let zone_op = Signer25519::from_seed(&[21u8; 32]);
    let op_a = Signer25519::from_seed(&[22u8; 32]);
    let op_b = Signer25519::from_seed(&[23u8; 32]);
    let entries = vec![
        BootstrapEntry {
            priority: 20,
            cluster_base_domain: "b.example.net".into(),
            operator_spk: op_b.public(),
        },
        BootstrapEntry {
            priority: 10,
            cluster_base_domain: "a.example.net".into(),
            operator_spk: op_a.public(),
        },
    ];
    let good = bootstrap(&zone_op, 2, entries.clone());
    let older = bootstrap(&zone_op, 1, entries[..1].to_vec());
    let forged = bootstrap(&Signer25519::from_seed(&[24u8; 32]), 9, entries.clone());
    assert_eq!(bootstrap_query("Example.com.").unwrap(), "_dmp.Example.com");
    let rec = select_bootstrap(
        [older.as_str(), forged.as_str(), good.as_str()],
        &zone_op.public(),
        "example.com",
        NOW,
    )
    .unwrap();
    assert_eq!(rec.seq, 2);

    // a.example.net (priority 10) serves a manifest signed by the wrong
    // key; b.example.net's verifies under op_b.
    let a_wrong = manifest_with(&op_b, "a.example.net", 1, NOW + 60, vec![node("a1")]);
    let b_good = manifest_with(
        &op_b,
        "b.example.net",
        3,
        NOW + 60,
        vec![node("b1"), node("b2")],
    );
    let mut walk = BootstrapWalk::new(rec.clone());
    assert_eq!(
        walk.step(),
        BootstrapStep::Query("cluster.a.example.net".into())
    );
    let step = walk.answer(&[a_wrong.as_str()], NOW);
    assert_eq!(step, BootstrapStep::Query("cluster.b.example.net".into()));
    match walk.answer(&[b_good.as_str()], NOW) {
        BootstrapStep::Done(entry, view) => {
            assert_eq!(entry.cluster_base_domain, "b.example.net");
            assert_eq!(entry.operator_spk, op_b.public());
            assert_eq!(view.seq(), 3);
            assert_eq!(view.nodes().len(), 2);
            assert!(same_base(view.base(), "B.example.net."));
        }
        other => panic!("{other:?}"),
    }

    // The convenience form over prefetched answers.
    let (entry, view) = resolve_bootstrap(
        &[good.as_str()],
        &zone_op.public(),
        "example.com",
        |name| match name {
            "cluster.a.example.net" => vec![a_wrong.as_str()],
            "cluster.b.example.net" => vec![b_good.as_str()],
            _ => Vec::new(),
        },
        NOW,
    )
    .unwrap();
    assert_eq!(entry.priority, 20);
    assert_eq!(view.seq(), 3);

    // Nothing usable: the error lists every entry tried.
    let err = resolve_bootstrap(
        &[good.as_str()],
        &zone_op.public(),
        "example.com",
        |_| Vec::new(),
        NOW,
    )
    .unwrap_err();
    assert_eq!(err.tried.len(), 2);
    assert!(err.to_string().contains("a.example.net"));
    assert!(err.to_string().contains("b.example.net"));

    // A bootstrap record not signed by the pinned zone key is never used.
    assert!(
        resolve_bootstrap(
            &[forged.as_str()],
            &zone_op.public(),
            "example.com",
            |_| vec![b_good.as_str()],
            NOW
        )
        .is_err()
    );
}
