//! Benchmarks of the protocol's hot paths: signing, verifying, encoding and
//! decoding descriptors, building manifests, and verifying certificates as
//! the federation grows.
//!
//! Run with `cargo bench -p mesh-protocol --bench protocol`.

#![allow(
    clippy::expect_used,
    reason = "benchmark setup builds known-good values; a failure is a bug to see at once"
)]

use std::collections::BTreeSet;

use divan::{Bencher, black_box};
use mesh_protocol::descriptor::{
    AccessMode, AccessPolicy, Classification, Content, DataType, Descriptor, Field, Format, Owner,
    ProductId, Quality, Schema, SignedDescriptor,
};
use mesh_protocol::encoding;
use mesh_protocol::governance::{
    Certificate, Change, Federation, Genesis, Member, Proposal, Quorum, RoundVote, Vote, VoteKind,
};
use mesh_protocol::manifest::{DEFAULT_CHUNK_SIZE, Manifest};
use mesh_protocol::policy::PolicyRule;
use mesh_protocol::{DomainKeypair, Hash, Signed, Timestamp};

/// Runs every benchmark in this file.
fn main() {
    divan::main();
}

/// The largest descriptor encoding the decoder benchmarks accept.
const DECODE_LIMIT: usize = 256 * 1024;

/// A key from a small number.
fn key(seed: u64) -> DomainKeypair {
    let mut secret = [0u8; 32];
    secret[..8].copy_from_slice(&seed.to_le_bytes());
    DomainKeypair::from_secret(secret)
}

/// A realistic descriptor: a dozen classified fields, tags, lineage and an
/// access list.
fn descriptor(owner: &DomainKeypair) -> Descriptor {
    let fields = (0..12)
        .map(|i| Field {
            name: format!("field_{i}"),
            data_type: if i % 2 == 0 {
                DataType::Int64
            } else {
                DataType::String
            },
            nullable: i % 3 == 0,
            classification: Some(if i == 5 {
                Classification::Pii
            } else {
                Classification::Internal
            }),
            description: format!("What field {i} holds, in a sentence or two."),
            constraints: mesh_protocol::contract::Constraints::default(),
            children: Vec::new(),
        })
        .collect();
    Descriptor {
        id: ProductId {
            domain: owner.domain_id(),
            name: "orders".into(),
        },
        domain_name: "sales".into(),
        version: 42,
        title: "Orders".into(),
        description: "Every order placed in the web shop, one row per order line.".into(),
        owner: Owner {
            name: "Sales data team".into(),
            email: "data@sales.example".into(),
        },
        schema: Schema { major: 3, fields },
        format: Format::Parquet,
        content: Content {
            size: 5 * 1024 * 1024 * 1024,
            chunk_size: DEFAULT_CHUNK_SIZE,
            manifest_hash: Hash::of(b"manifest"),
        },
        tags: ["orders", "sales", "daily"]
            .into_iter()
            .map(String::from)
            .collect(),
        quality: Quality {
            freshness_secs: Some(86_400),
            completeness_percent: Some(99),
            min_rows: None,
            max_rows: None,
            event_time_field: None,
        },
        lineage: (1..=3)
            .map(|i| ProductId {
                domain: key(100 + i).domain_id(),
                name: format!("input_{i}"),
            })
            .collect(),
        access: AccessPolicy {
            mode: AccessMode::Domains((1..=4).map(|i| key(200 + i).domain_id()).collect()),
            reshare: false,
        },
        retention_days: Some(90),
        created_at: Timestamp(1_700_000_000_000),
        deprecation: None,
        csv: None,
        profile: None,
        derivation: None,
    }
}

/// Signing a descriptor (canonical encoding plus one ed25519 signature).
#[divan::bench]
fn sign_descriptor(bencher: Bencher) {
    let owner = key(1);
    let d = descriptor(&owner);
    bencher
        .with_inputs(|| d.clone())
        .bench_local_values(|d| Signed::sign(d, &owner));
}

/// Verifying a signed descriptor's signature.
#[divan::bench]
fn verify_descriptor(bencher: Bencher) {
    let owner = key(1);
    let signed = Signed::sign(descriptor(&owner), &owner);
    bencher.bench_local(|| black_box(&signed).verify().is_ok());
}

/// Encoding a signed descriptor to its canonical bytes.
#[divan::bench]
fn encode_descriptor(bencher: Bencher) {
    let owner = key(1);
    let signed = Signed::sign(descriptor(&owner), &owner);
    bencher.bench_local(|| encoding::to_bytes(black_box(&signed)));
}

/// Decoding a signed descriptor (size limit and trailing-byte check).
#[divan::bench]
fn decode_descriptor(bencher: Bencher) {
    let owner = key(1);
    let bytes = encoding::to_bytes(&Signed::sign(descriptor(&owner), &owner));
    bencher.bench_local(|| {
        encoding::from_bytes::<SignedDescriptor>(black_box(&bytes), DECODE_LIMIT).expect("decodes")
    });
}

/// Decoding a signed descriptor as the wire decoders do, with the check
/// that the bytes are its canonical encoding.
#[divan::bench]
fn decode_descriptor_canonical(bencher: Bencher) {
    let owner = key(1);
    let bytes = encoding::to_bytes(&Signed::sign(descriptor(&owner), &owner));
    bencher.bench_local(|| {
        encoding::from_canonical_bytes::<SignedDescriptor>(black_box(&bytes), DECODE_LIMIT)
            .expect("decodes")
    });
}

/// Building the manifest of 8 MiB at the default 1 MiB chunk size.
#[divan::bench(sample_count = 30, sample_size = 1)]
fn build_manifest_8mib(bencher: Bencher) {
    let data: Vec<u8> = (0..8u32 * 1024 * 1024)
        .map(|i| i.to_le_bytes()[0] ^ i.to_le_bytes()[2])
        .collect();
    bencher
        .counter(divan::counter::BytesCount::of_slice(&data))
        .bench_local(|| Manifest::from_bytes(black_box(&data), DEFAULT_CHUNK_SIZE));
}

/// Verifying a certificate that carries an approval and a precommit from
/// every one of `n` members (2n signatures).
#[divan::bench(args = [10, 100, 1000], sample_count = 20)]
fn verify_certificate(bencher: Bencher, n: u64) {
    let keys: Vec<DomainKeypair> = (1..=n).map(key).collect();
    let members = keys
        .iter()
        .enumerate()
        .map(|(i, k)| Member {
            name: format!("m{i}"),
            key: k.public(),
        })
        .collect();
    let genesis = Genesis::new(
        "bench",
        members,
        Quorum::TWO_THIRDS,
        BTreeSet::new(),
        Timestamp(0),
    )
    .expect("valid genesis");
    let fed = Federation::new(genesis).expect("valid federation");
    let proposal = Signed::sign(
        Proposal {
            federation: fed.id(),
            base_version: 0,
            change: Change::AddPolicy(PolicyRule::RequireOwner),
            reason: "every product needs an owner".into(),
            created_at: Timestamp(0),
            expires_at: Timestamp(1_000),
        },
        &keys[0],
    );
    let id = proposal.value.id();
    let approvals = keys
        .iter()
        .map(|k| {
            let vote = Vote {
                federation: fed.id(),
                proposal: id,
                base_version: 0,
                approve: true,
                cast_at: Timestamp(10),
                reason: String::new(),
            };
            Signed::sign(vote, k)
        })
        .collect();
    let precommits = keys
        .iter()
        .map(|k| {
            let vote = RoundVote {
                federation: fed.id(),
                slot: 0,
                round: 0,
                kind: VoteKind::Precommit,
                value: Some(id),
            };
            Signed::sign(vote, k)
        })
        .collect();
    let cert = Certificate {
        proposal,
        approvals,
        round: 0,
        precommits,
    };
    assert!(fed.verify(&cert).is_ok(), "the certificate must verify");
    bencher.bench_local(|| fed.verify(black_box(&cert)));
}
