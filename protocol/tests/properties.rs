//! Properties of the mesh protocol that must hold for every input, not just
//! the examples in the unit tests: signatures cover every descriptor field,
//! the canonical encoding round-trips byte for byte, decoders refuse hostile
//! bytes without panicking, the catalog merge is order-independent, and
//! certificates count exactly the votes they should, so two conflicting
//! certificates cannot both verify while fewer than a third of members lie.

use std::collections::{BTreeMap, BTreeSet};

use mesh_protocol::bytes::ByteBuf;
use mesh_protocol::catalog::{Catalog, CatalogItem, SyncDigest, SyncEntry};
use mesh_protocol::descriptor::{
    AccessMode, AccessPolicy, Classification, Content, DataType, Deprecation, Descriptor, Field,
    Format, Owner, ProductId, Quality, Schema, SignedDescriptor, Withdrawal,
};
use mesh_protocol::encoding::{self, DecodeError};
use mesh_protocol::governance::{
    Ballots, Certificate, CertificateError, ChainError, Change, Federation, FederationId, Genesis,
    Member, Proposal, ProposalError, ProposalId, ProposalStatus, Quorum, RoundMessage,
    RoundProposal, RoundVote, Vote, VoteKind, VoteOutcome,
};
use mesh_protocol::identity::{DomainId, DomainKeypair, NodeBinding};
use mesh_protocol::manifest::Manifest;
use mesh_protocol::policy::PolicyRule;
use mesh_protocol::signed::{SignatureError, Signed};
use mesh_protocol::wire::{
    self, ErrorCode, GOSSIP_VERSION, GossipEnvelope, GossipMessage, Have, MAX_GOSSIP_BYTES,
    MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, Request, RequestFrame, Response, WireError,
};
use mesh_protocol::{Hash, PROTOCOL_VERSION, Timestamp};
use proptest::collection::{btree_set, vec};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

// ---------------------------------------------------------------------------
// Fixed builders
// ---------------------------------------------------------------------------

fn key(seed: u8) -> DomainKeypair {
    DomainKeypair::from_secret([seed; 32])
}

/// A valid descriptor with every optional field set, owned by `key`.
fn descriptor(owner: &DomainKeypair, name: &str, version: u64) -> Descriptor {
    Descriptor {
        id: ProductId {
            domain: owner.domain_id(),
            name: name.into(),
        },
        domain_name: "sales".into(),
        version,
        title: "Orders".into(),
        description: "Every order placed".into(),
        owner: Owner {
            name: "Sales data team".into(),
            email: "data@sales.example".into(),
        },
        schema: Schema {
            major: 1,
            fields: vec![
                Field {
                    name: "order_id".into(),
                    data_type: DataType::Int64,
                    nullable: false,
                    classification: Some(Classification::Internal),
                    description: "Order number".into(),
                    constraints: mesh_protocol::contract::Constraints::default(),
                    children: Vec::new(),
                },
                Field {
                    name: "email".into(),
                    data_type: DataType::String,
                    nullable: true,
                    classification: Some(Classification::Pii),
                    description: "Customer email".into(),
                    constraints: mesh_protocol::contract::Constraints::default(),
                    children: Vec::new(),
                },
            ],
        },
        format: Format::Csv,
        content: Content {
            size: 3 * 1024 * 1024 + 5,
            chunk_size: 1024 * 1024,
            manifest_hash: Hash::of(b"manifest"),
        },
        tags: ["orders".to_string(), "sales".to_string()].into(),
        quality: Quality {
            freshness_secs: Some(3600),
            completeness_percent: Some(99),
            min_rows: None,
            max_rows: None,
            event_time_field: None,
        },
        lineage: vec![ProductId {
            domain: key(50).domain_id(),
            name: "customers".into(),
        }],
        access: AccessPolicy {
            mode: AccessMode::Domains([key(42).domain_id()].into()),
            reshare: true,
        },
        retention_days: Some(30),
        created_at: Timestamp(1_700_000_000_000),
        deprecation: Some(Deprecation {
            reason: "use orders_v2".into(),
            successor: Some(ProductId {
                domain: owner.domain_id(),
                name: "orders_v2".into(),
            }),
        }),
        csv: Some(mesh_protocol::contract::CsvDialect {
            delimiter: b';',
            null: "NULL".into(),
            ..Default::default()
        }),
        profile: Some(mesh_protocol::profile::Profile {
            method: mesh_protocol::profile::PROFILE_METHOD,
            rows: 10,
            fields: vec![mesh_protocol::profile::FieldProfile {
                name: "order_id".into(),
                stored_as: None,
                nulls: 0,
                min: Some("1".into()),
                max: Some("10".into()),
                distinct: 10,
                distinct_exact: true,
            }],
            completeness_percent: Some(95),
            violations: vec![mesh_protocol::profile::Violation {
                field: Some("email".into()),
                check: mesh_protocol::profile::Check::Pattern,
                count: 1,
                first_rows: vec![4],
                detail: "value does not match the pattern".into(),
            }],
            more_violations: 0,
            notes: vec!["column \"extra\" is not declared".into()],
        }),
        derivation: Some(derivation()),
    }
}

/// The derivation of the full descriptor: one input, one column source.
fn derivation() -> mesh_protocol::derivation::Derivation {
    mesh_protocol::derivation::Derivation {
        query: "SELECT order_id, email FROM sales.customers@4".into(),
        inputs: vec![mesh_protocol::derivation::DerivedInput {
            product: ProductId {
                domain: key(50).domain_id(),
                name: "customers".into(),
            },
            version: 4,
            descriptor: Hash::of(b"customers v4"),
        }],
        columns: vec![mesh_protocol::derivation::DerivedColumn {
            name: "email".into(),
            sources: vec![mesh_protocol::derivation::ColumnSource {
                input: 0,
                column: "email".into(),
            }],
        }],
    }
}

/// A change made to a descriptor after it was signed.
type Tamper = (&'static str, fn(&mut Descriptor));

/// One tampering per descriptor field (and per attribute of each schema
/// field). The exhaustive destructuring below fails to compile when a field
/// is added to `Descriptor` without a tampering here.
#[allow(clippy::too_many_lines, reason = "one line per descriptor field")]
fn tamperings() -> Vec<Tamper> {
    fn _every_field_is_listed(d: &Descriptor) {
        let Descriptor {
            id: ProductId { domain: _, name: _ },
            domain_name: _,
            version: _,
            title: _,
            description: _,
            owner: Owner { name: _, email: _ },
            schema: Schema {
                major: _,
                fields: _,
            },
            format: _,
            content:
                Content {
                    size: _,
                    chunk_size: _,
                    manifest_hash: _,
                },
            tags: _,
            quality:
                Quality {
                    freshness_secs: _,
                    completeness_percent: _,
                    min_rows: _,
                    max_rows: _,
                    event_time_field: _,
                },
            lineage: _,
            access:
                AccessPolicy {
                    mode: _,
                    reshare: _,
                },
            retention_days: _,
            created_at: _,
            deprecation: _,
            csv: _,
            profile: _,
            derivation: _,
        } = d;
        let Field {
            name: _,
            data_type: _,
            nullable: _,
            classification: _,
            description: _,
            constraints: _,
            children: _,
        } = Field {
            name: String::new(),
            data_type: DataType::Int32,
            nullable: false,
            classification: None,
            description: String::new(),
            constraints: mesh_protocol::contract::Constraints::default(),
            children: Vec::new(),
        };
    }
    vec![
        ("id.domain", |d| d.id.domain = key(9).domain_id()),
        ("id.domain (one bit)", |d| d.id.domain.0[15] ^= 1),
        ("id.name", |d| d.id.name = "orderz".into()),
        ("domain_name", |d| d.domain_name = "billing".into()),
        ("version", |d| d.version += 1),
        ("title", |d| d.title = "Orders!".into()),
        ("description", |d| d.description.push(' ')),
        ("owner.name", |d| d.owner.name = "Someone else".into()),
        ("owner.email", |d| {
            d.owner.email = "evil@attacker.example".into();
        }),
        ("schema.major", |d| d.schema.major = 2),
        ("schema.fields[0].name", |d| {
            d.schema.fields[0].name = "order_no".into();
        }),
        ("schema.fields[0].data_type", |d| {
            d.schema.fields[0].data_type = DataType::Int32;
        }),
        ("schema.fields[0].nullable", |d| {
            d.schema.fields[0].nullable = true;
        }),
        ("schema.fields[0].classification", |d| {
            d.schema.fields[0].classification = Some(Classification::Public);
        }),
        ("schema.fields[0].classification (none)", |d| {
            d.schema.fields[0].classification = None;
        }),
        ("schema.fields[0].description", |d| {
            d.schema.fields[0].description = "Order id".into();
        }),
        ("schema.fields[1].name", |d| {
            d.schema.fields[1].name = "mail".into();
        }),
        ("schema.fields[1].data_type", |d| {
            d.schema.fields[1].data_type = DataType::Binary;
        }),
        ("schema.fields[1].nullable", |d| {
            d.schema.fields[1].nullable = false;
        }),
        ("schema.fields[1].classification", |d| {
            d.schema.fields[1].classification = Some(Classification::Public);
        }),
        ("schema.fields[1].description", |d| {
            d.schema.fields[1].description.clear();
        }),
        ("schema.fields (order)", |d| d.schema.fields.swap(0, 1)),
        ("schema.fields (removed)", |d| {
            d.schema.fields.pop();
        }),
        ("schema.fields (added)", |d| {
            d.schema.fields.push(Field {
                name: "note".into(),
                data_type: DataType::String,
                nullable: true,
                classification: None,
                description: String::new(),
                constraints: mesh_protocol::contract::Constraints::default(),
                children: Vec::new(),
            });
        }),
        ("format", |d| d.format = Format::Parquet),
        ("format (other)", |d| d.format = Format::Other("csv".into())),
        ("content.size", |d| d.content.size -= 1),
        ("content.chunk_size", |d| d.content.chunk_size *= 2),
        ("content.manifest_hash", |d| {
            d.content.manifest_hash.0[31] ^= 1;
        }),
        ("tags (added)", |d| {
            d.tags.insert("extra".into());
        }),
        ("tags (removed)", |d| {
            d.tags.remove("sales");
        }),
        ("quality.freshness_secs", |d| {
            d.quality.freshness_secs = Some(3601);
        }),
        ("quality.freshness_secs (none)", |d| {
            d.quality.freshness_secs = None;
        }),
        ("quality.completeness_percent", |d| {
            d.quality.completeness_percent = Some(100);
        }),
        ("quality.completeness_percent (none)", |d| {
            d.quality.completeness_percent = None;
        }),
        ("lineage (cleared)", |d| d.lineage.clear()),
        ("lineage (renamed)", |d| {
            d.lineage[0].name = "clients".into();
        }),
        ("access.mode (public)", |d| {
            d.access.mode = AccessMode::Public;
        }),
        ("access.mode (granted)", |d| {
            d.access.mode = AccessMode::OwnerGranted;
        }),
        ("access.mode (domains)", |d| {
            d.access.mode = AccessMode::Domains([key(43).domain_id()].into());
        }),
        ("access.reshare", |d| d.access.reshare = false),
        ("retention_days", |d| d.retention_days = Some(31)),
        ("retention_days (none)", |d| d.retention_days = None),
        ("created_at", |d| {
            d.created_at = Timestamp(d.created_at.0 + 1);
        }),
        ("derivation (none)", |d| {
            d.derivation = None;
        }),
        ("derivation.query", |d| {
            if let Some(x) = &mut d.derivation {
                x.query.push(' ');
            }
        }),
        ("derivation.inputs.version", |d| {
            if let Some(x) = &mut d.derivation {
                x.inputs[0].version = 3;
            }
        }),
        ("derivation.inputs.descriptor", |d| {
            if let Some(x) = &mut d.derivation {
                x.inputs[0].descriptor = Hash::of(b"other");
            }
        }),
        ("derivation.columns.sources", |d| {
            if let Some(x) = &mut d.derivation {
                x.columns[0].sources.clear();
            }
        }),
        ("deprecation (none)", |d| d.deprecation = None),
        ("deprecation.reason", |d| {
            if let Some(dep) = &mut d.deprecation {
                dep.reason = "gone".into();
            }
        }),
        ("deprecation.successor", |d| {
            if let Some(dep) = &mut d.deprecation {
                dep.successor = None;
            }
        }),
    ]
}

#[test]
fn every_descriptor_field_is_covered_by_the_signature() {
    let owner = key(1);
    let original = descriptor(&owner, "orders", 3);
    assert_eq!(original.validate(), Ok(()));
    let signed = Signed::sign(original.clone(), &owner);
    assert_eq!(signed.verify(), Ok(&original));

    for (field, tamper) in tamperings() {
        let mut forged = signed.clone();
        tamper(&mut forged.value);
        assert_ne!(forged.value, original, "tampering {field} changed nothing");
        assert_eq!(
            forged.verify().err(),
            Some(SignatureError::Mismatch),
            "changing {field} after signing must break the signature"
        );
        assert!(
            CatalogItem::Descriptor(forged).verify().is_err(),
            "a catalog item with a changed {field} must be refused"
        );
    }

    // A descriptor that was never deprecated: deprecating it breaks the
    // signature too.
    let mut live = original.clone();
    live.deprecation = None;
    let mut forged = Signed::sign(live, &owner);
    forged.value.deprecation = Some(Deprecation {
        reason: "withdrawn".into(),
        successor: None,
    });
    assert_eq!(forged.verify().err(), Some(SignatureError::Mismatch));

    // The signer and the signature themselves.
    let mut forged = signed.clone();
    forged.signer = key(2).public();
    assert_eq!(forged.verify().err(), Some(SignatureError::Mismatch));
    for byte in [0, 31, 32, 63] {
        let mut forged = signed.clone();
        forged.signature[byte] ^= 0x40;
        assert!(forged.verify().is_err(), "signature byte {byte} flipped");
    }
}

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

fn arb_name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_-]{0,15}"
}

fn arb_text() -> impl Strategy<Value = String> {
    "\\PC{0,30}"
}

fn arb_hash() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>().prop_map(Hash)
}

fn arb_domain() -> impl Strategy<Value = DomainId> {
    any::<[u8; 16]>().prop_map(DomainId)
}

fn arb_key() -> impl Strategy<Value = DomainKeypair> {
    any::<[u8; 32]>().prop_map(DomainKeypair::from_secret)
}

fn arb_product() -> impl Strategy<Value = ProductId> {
    (arb_domain(), arb_name()).prop_map(|(domain, name)| ProductId { domain, name })
}

fn arb_timestamp() -> impl Strategy<Value = Timestamp> {
    any::<u64>().prop_map(Timestamp)
}

fn arb_classification() -> impl Strategy<Value = Classification> {
    prop_oneof![
        Just(Classification::Public),
        Just(Classification::Internal),
        Just(Classification::Confidential),
        Just(Classification::Pii),
    ]
}

fn arb_data_type() -> impl Strategy<Value = DataType> {
    proptest::sample::select(vec![
        DataType::Boolean,
        DataType::Int32,
        DataType::Int64,
        DataType::Float32,
        DataType::Float64,
        DataType::Decimal,
        DataType::String,
        DataType::Binary,
        DataType::Date,
        DataType::Timestamp,
        DataType::Object,
        DataType::Array,
    ])
}

fn arb_schema() -> impl Strategy<Value = Schema> {
    let attributes = (
        arb_data_type(),
        any::<bool>(),
        proptest::option::of(arb_classification()),
        arb_text(),
    );
    (
        any::<u32>(),
        proptest::collection::btree_map(arb_name(), attributes, 0..6),
    )
        .prop_flat_map(|(major, by_name)| {
            let fields: Vec<Field> = by_name
                .into_iter()
                .map(
                    |(name, (data_type, nullable, classification, description))| Field {
                        name,
                        data_type,
                        nullable,
                        classification,
                        description,
                        constraints: mesh_protocol::contract::Constraints::default(),
                        children: Vec::new(),
                    },
                )
                .collect();
            // Field order is meaningful: do not always generate sorted names.
            Just(fields)
                .prop_shuffle()
                .prop_map(move |fields| Schema { major, fields })
        })
}

fn arb_format() -> impl Strategy<Value = Format> {
    prop_oneof![
        Just(Format::Csv),
        Just(Format::Jsonl),
        Just(Format::Json),
        Just(Format::Parquet),
        Just(Format::Avro),
        Just(Format::Arrow),
        arb_name().prop_map(Format::Other),
    ]
}

fn arb_content() -> impl Strategy<Value = Content> {
    // 4 KiB ..= 16 MiB chunks; at most 2^18 chunks of the smallest size.
    (0u64..=(1 << 30), 12u32..=24, arb_hash()).prop_map(|(size, shift, manifest_hash)| Content {
        size,
        chunk_size: 1 << shift,
        manifest_hash,
    })
}

fn arb_access() -> impl Strategy<Value = AccessPolicy> {
    let mode = prop_oneof![
        Just(AccessMode::Public),
        btree_set(arb_domain(), 1..4).prop_map(AccessMode::Domains),
        Just(AccessMode::OwnerGranted),
    ];
    (mode, any::<bool>()).prop_map(|(mode, reshare)| AccessPolicy { mode, reshare })
}

fn arb_owner() -> impl Strategy<Value = Owner> {
    let email = prop_oneof![
        Just(String::new()),
        "[a-z0-9.]{1,8}@[a-z]{1,8}\\.[a-z]{2,4}",
    ];
    (arb_text(), email).prop_map(|(name, email)| Owner { name, email })
}

fn arb_deprecation() -> impl Strategy<Value = Option<Deprecation>> {
    proptest::option::of(
        ("[a-z]\\PC{0,30}", proptest::option::of(arb_product()))
            .prop_map(|(reason, successor)| Deprecation { reason, successor }),
    )
}

/// Structurally valid descriptors with random content, and the key of the
/// domain that owns them.
fn arb_descriptor() -> impl Strategy<Value = (DomainKeypair, Descriptor)> {
    let head = (
        arb_key(),
        arb_name(),
        arb_name(),
        1..=u64::MAX,
        "[A-Za-z0-9]\\PC{0,30}",
        "\\PC{0,60}",
        arb_owner(),
        arb_schema(),
    );
    let tail = (
        arb_format(),
        arb_content(),
        btree_set(arb_name(), 0..5),
        (
            proptest::option::of(any::<u64>()),
            proptest::option::of(0u8..=100),
        ),
        vec(arb_product(), 0..3),
        arb_access(),
        proptest::option::of(any::<u32>()),
        arb_timestamp(),
        arb_deprecation(),
    );
    (head, tail).prop_map(
        |(
            (key, name, domain_name, version, title, description, owner, schema),
            (format, content, tags, (freshness, completeness), lineage, access, retention, at, dep),
        )| {
            let id = ProductId {
                domain: key.domain_id(),
                name,
            };
            let lineage = lineage.into_iter().filter(|p| *p != id).collect();
            let d = Descriptor {
                id,
                domain_name,
                version,
                title,
                description,
                owner,
                schema,
                format,
                content,
                tags,
                quality: Quality {
                    freshness_secs: freshness,
                    completeness_percent: completeness,
                    min_rows: None,
                    max_rows: None,
                    event_time_field: None,
                },
                lineage,
                access,
                retention_days: retention,
                created_at: at,
                deprecation: dep,
                csv: None,
                profile: None,
                derivation: None,
            };
            (key, d)
        },
    )
}

fn arb_signed_descriptor() -> impl Strategy<Value = SignedDescriptor> {
    arb_descriptor().prop_map(|(key, d)| Signed::sign(d, &key))
}

fn arb_withdrawal() -> impl Strategy<Value = Signed<Withdrawal>> {
    (
        arb_key(),
        arb_name(),
        1..=u64::MAX,
        arb_text(),
        arb_timestamp(),
    )
        .prop_map(|(key, name, version, reason, at)| {
            let withdrawal = Withdrawal {
                product: ProductId {
                    domain: key.domain_id(),
                    name,
                },
                version,
                reason,
                at,
            };
            Signed::sign(withdrawal, &key)
        })
}

fn arb_item() -> impl Strategy<Value = CatalogItem> {
    prop_oneof![
        3 => arb_signed_descriptor().prop_map(CatalogItem::Descriptor),
        1 => arb_withdrawal().prop_map(CatalogItem::Withdrawal),
    ]
}

fn arb_binding() -> impl Strategy<Value = Signed<NodeBinding>> {
    (
        arb_key(),
        vec(any::<u8>(), 1..=64),
        arb_timestamp(),
        any::<u64>(),
    )
        .prop_map(|(key, peer, now, valid)| NodeBinding::issue(&key, peer, now, valid))
}

fn arb_rule() -> impl Strategy<Value = PolicyRule> {
    prop_oneof![
        Just(PolicyRule::RequireOwner),
        Just(PolicyRule::RequireClassification),
        Just(PolicyRule::PiiNeverPublic),
        btree_set(arb_format(), 0..4).prop_map(PolicyRule::AllowedFormats),
        any::<u32>().prop_map(PolicyRule::MaxRetentionDays),
        "[a-z_.*+]{0,12}".prop_map(PolicyRule::NamePattern),
        Just(PolicyRule::RequireQualityPromises),
        Just(PolicyRule::SchemaCompatibility),
    ]
}

fn arb_change() -> impl Strategy<Value = Change> {
    prop_oneof![
        arb_rule().prop_map(Change::AddPolicy),
        arb_rule().prop_map(Change::RemovePolicy),
        (arb_name(), arb_key()).prop_map(|(name, key)| Change::AddMember(Member {
            name,
            key: key.public()
        })),
        arb_domain().prop_map(Change::RemoveMember),
        (any::<u32>(), any::<u32>()).prop_map(|(numerator, denominator)| Change::SetQuorum(
            Quorum {
                numerator,
                denominator
            }
        )),
    ]
}

fn arb_federation_id() -> impl Strategy<Value = FederationId> {
    arb_hash().prop_map(FederationId)
}

fn arb_proposal() -> impl Strategy<Value = Signed<Proposal>> {
    (
        arb_key(),
        arb_federation_id(),
        any::<u64>(),
        arb_change(),
        arb_text(),
        arb_timestamp(),
        arb_timestamp(),
    )
        .prop_map(|(key, federation, base_version, change, reason, at, exp)| {
            let proposal = Proposal {
                federation,
                base_version,
                change,
                reason,
                created_at: at,
                expires_at: exp,
            };
            Signed::sign(proposal, &key)
        })
}

fn arb_vote() -> impl Strategy<Value = Signed<Vote>> {
    (
        arb_key(),
        arb_federation_id(),
        arb_hash(),
        any::<u64>(),
        any::<bool>(),
        arb_timestamp(),
        arb_text(),
    )
        .prop_map(
            |(key, federation, proposal, base_version, approve, at, reason)| {
                let vote = Vote {
                    federation,
                    proposal: ProposalId(proposal),
                    base_version,
                    approve,
                    cast_at: at,
                    reason,
                };
                Signed::sign(vote, &key)
            },
        )
}

fn arb_round_vote() -> impl Strategy<Value = Signed<RoundVote>> {
    (
        arb_key(),
        arb_federation_id(),
        any::<u64>(),
        any::<u32>(),
        any::<bool>(),
        proptest::option::of(arb_hash()),
    )
        .prop_map(|(key, federation, slot, round, pre, value)| {
            let vote = RoundVote {
                federation,
                slot,
                round,
                kind: if pre {
                    VoteKind::Prevote
                } else {
                    VoteKind::Precommit
                },
                value: value.map(ProposalId),
            };
            Signed::sign(vote, &key)
        })
}

fn arb_round_message() -> impl Strategy<Value = RoundMessage> {
    prop_oneof![
        arb_round_vote().prop_map(RoundMessage::Vote),
        (
            arb_key(),
            arb_federation_id(),
            any::<u64>(),
            any::<u32>(),
            arb_hash(),
            proptest::option::of(any::<u32>())
        )
            .prop_map(|(key, federation, slot, round, value, valid_round)| {
                RoundMessage::Proposal(Signed::sign(
                    RoundProposal {
                        federation,
                        slot,
                        round,
                        value: ProposalId(value),
                        valid_round,
                    },
                    &key,
                ))
            }),
    ]
}

fn arb_certificate() -> impl Strategy<Value = Certificate> {
    (
        arb_proposal(),
        vec(arb_vote(), 0..4),
        any::<u32>(),
        vec(arb_round_vote(), 0..4),
    )
        .prop_map(|(proposal, approvals, round, precommits)| Certificate {
            proposal,
            approvals,
            round,
            precommits,
        })
}

fn arb_envelope() -> impl Strategy<Value = GossipEnvelope> {
    let message = prop_oneof![
        arb_item().prop_map(GossipMessage::Catalog),
        arb_proposal().prop_map(GossipMessage::Proposal),
        arb_vote().prop_map(GossipMessage::Vote),
        arb_certificate().prop_map(|c| GossipMessage::Certificate(Box::new(c))),
        arb_round_message().prop_map(GossipMessage::Round),
    ];
    (arb_binding(), message, vec(any::<u8>(), 0..=64)).prop_map(|(origin, message, signature)| {
        GossipEnvelope {
            version: GOSSIP_VERSION,
            origin,
            message,
            signature: ByteBuf(signature),
        }
    })
}

fn arb_request() -> impl Strategy<Value = RequestFrame> {
    // Boxed: the union's value tree would otherwise sit whole on the test
    // thread's stack, which a debug build overflows.
    let request: BoxedStrategy<Request> = prop_oneof![
        (arb_product(), proptest::option::of(any::<u64>()))
            .prop_map(|(product, version)| Request::GetDescriptor { product, version }),
        (arb_product(), arb_hash())
            .prop_map(|(product, manifest)| Request::GetManifest { product, manifest }),
        (arb_product(), arb_hash(), any::<u32>()).prop_map(|(product, manifest, index)| {
            Request::GetChunk {
                product,
                manifest,
                index,
            }
        }),
        vec(arb_hash(), 0..8).prop_map(|buckets| Request::CatalogDigest(SyncDigest { buckets })),
        btree_set(arb_product(), 0..5).prop_map(Request::CatalogFetch),
        (arb_federation_id(), any::<u64>()).prop_map(|(federation, from_version)| {
            Request::GovernanceCatchUp {
                federation,
                from_version,
            }
        }),
        (arb_product(), arb_hash())
            .prop_map(|(product, manifest)| Request::GetHave { product, manifest }),
    ]
    .boxed();
    (proptest::option::of(arb_binding()), request).prop_map(|(requester, request)| RequestFrame {
        version: PROTOCOL_VERSION,
        requester,
        request,
    })
}

fn arb_error_code() -> impl Strategy<Value = ErrorCode> {
    proptest::sample::select(vec![
        ErrorCode::UnknownProduct,
        ErrorCode::UnknownVersion,
        ErrorCode::NotHeld,
        ErrorCode::Denied,
        ErrorCode::Busy,
        ErrorCode::BadRequest,
        ErrorCode::UnknownFederation,
    ])
}

fn arb_response() -> BoxedStrategy<Response> {
    // Boxed for the same reason as `arb_request`'s union.
    prop_oneof![
        arb_item().prop_map(|i| Response::Item(Box::new(i))),
        (any::<u64>(), any::<u32>(), vec(arb_hash(), 0..6)).prop_map(
            |(size, chunk_size, chunks)| Response::Manifest(Manifest {
                size,
                chunk_size,
                chunks
            })
        ),
        vec(any::<u8>(), 0..2048).prop_map(|b| Response::Chunk(ByteBuf(b))),
        Just(Response::Have(Have::All)),
        vec(any::<u8>(), 0..64).prop_map(|b| Response::Have(Have::Some(ByteBuf(b)))),
        vec(
            (arb_product(), any::<u64>(), arb_hash()).prop_map(|(product, version, hash)| {
                SyncEntry {
                    product,
                    version,
                    hash,
                }
            }),
            0..5
        )
        .prop_map(Response::CatalogSummary),
        vec(arb_item(), 0..3).prop_map(Response::CatalogItems),
        (
            vec(arb_certificate(), 0..2),
            vec(arb_proposal(), 0..2),
            vec(arb_vote(), 0..3),
            vec(arb_round_message(), 0..3)
        )
            .prop_map(
                |(certificates, proposals, votes, rounds)| Response::Governance {
                    certificates,
                    proposals,
                    votes,
                    rounds
                }
            ),
        (arb_error_code(), arb_text())
            .prop_map(|(code, message)| Response::Error { code, message }),
    ]
    .boxed()
}

/// Ways of damaging a valid encoding.
#[derive(Clone, Debug)]
enum Damage {
    /// Replace the byte at this position (modulo the length) with this value.
    Set(prop::sample::Index, u8),
    /// Insert a byte at this position.
    Insert(prop::sample::Index, u8),
    /// Remove the byte at this position.
    Remove(prop::sample::Index),
}

fn arb_damage() -> impl Strategy<Value = Vec<Damage>> {
    vec(
        prop_oneof![
            3 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Damage::Set(i, b)),
            1 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Damage::Insert(i, b)),
            1 => any::<prop::sample::Index>().prop_map(Damage::Remove),
        ],
        1..4,
    )
}

fn damage(mut bytes: Vec<u8>, damages: &[Damage]) -> Vec<u8> {
    for d in damages {
        match d {
            Damage::Set(i, b) if !bytes.is_empty() => {
                let at = i.index(bytes.len());
                bytes[at] = *b;
            }
            Damage::Insert(i, b) => {
                let at = i.index(bytes.len() + 1);
                bytes.insert(at, *b);
            }
            Damage::Remove(i) if !bytes.is_empty() => {
                let at = i.index(bytes.len());
                bytes.remove(at);
            }
            _ => {}
        }
    }
    bytes
}

// ---------------------------------------------------------------------------
// Encoding properties
// ---------------------------------------------------------------------------

/// One wire codec: its encoder, its decoder and its size limit.
struct Codec<T> {
    encode: fn(&T) -> Vec<u8>,
    decode: fn(&[u8]) -> Result<T, WireError>,
    limit: usize,
}

const GOSSIP: Codec<GossipEnvelope> = Codec {
    encode: wire::encode_gossip,
    decode: wire::decode_gossip,
    limit: MAX_GOSSIP_BYTES,
};
const REQUEST: Codec<RequestFrame> = Codec {
    encode: wire::encode_request,
    decode: wire::decode_request,
    limit: MAX_REQUEST_BYTES,
};
const RESPONSE: Codec<Response> = Codec {
    encode: wire::encode_response,
    decode: wire::decode_response,
    limit: MAX_RESPONSE_BYTES,
};

impl<T: PartialEq + std::fmt::Debug> Codec<T> {
    /// Encoding is deterministic and decoding inverts it exactly.
    fn roundtrip(&self, value: &T) -> Result<(), TestCaseError> {
        let bytes = (self.encode)(value);
        prop_assert!(!bytes.is_empty());
        prop_assert_eq!(
            &(self.encode)(value),
            &bytes,
            "encoding is not deterministic"
        );
        let decoded = (self.decode)(&bytes);
        prop_assert_eq!(decoded.as_ref(), Ok(value));
        let decoded = decoded.map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!((self.encode)(&decoded), bytes, "re-encoding differs");
        Ok(())
    }

    /// Every strict prefix of a valid encoding is refused.
    fn truncations_fail(&self, value: &T) -> Result<(), TestCaseError> {
        let bytes = (self.encode)(value);
        for len in 0..bytes.len() {
            prop_assert!(
                (self.decode)(&bytes[..len]).is_err(),
                "prefix of {} of {} bytes decoded",
                len,
                bytes.len()
            );
        }
        Ok(())
    }

    /// A valid encoding followed by one more byte is refused.
    fn trailing_byte_fails(&self, value: &T, extra: u8) -> Result<(), TestCaseError> {
        let mut bytes = (self.encode)(value);
        bytes.push(extra);
        prop_assert_eq!(
            (self.decode)(&bytes).err(),
            Some(WireError::Decode(DecodeError::TrailingBytes { extra: 1 }))
        );
        Ok(())
    }

    /// Input over the limit is refused as too large, before decoding.
    fn oversized_fails(&self, value: &T, over: usize, fill: u8) -> Result<(), TestCaseError> {
        let mut bytes = (self.encode)(value);
        let len = self.limit + 1 + over;
        prop_assume!(bytes.len() <= len);
        bytes.resize(len, fill);
        prop_assert_eq!(
            (self.decode)(&bytes).err(),
            Some(WireError::Decode(DecodeError::TooLarge {
                len,
                limit: self.limit
            }))
        );
        Ok(())
    }

    /// Damaged encodings never panic, and whatever is accepted is the one
    /// canonical encoding of the value it decodes to.
    fn damaged_is_canonical_or_refused(
        &self,
        value: &T,
        damages: &[Damage],
    ) -> Result<(), TestCaseError> {
        let bytes = damage((self.encode)(value), damages);
        if let Ok(decoded) = (self.decode)(&bytes) {
            prop_assert_eq!(
                (self.encode)(&decoded),
                bytes,
                "accepted bytes are not the canonical encoding of what they decode to"
            );
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn generated_descriptors_are_valid_and_verify(signed in arb_signed_descriptor()) {
        prop_assert_eq!(signed.value.validate(), Ok(()));
        prop_assert!(signed.verify().is_ok());
        prop_assert_eq!(CatalogItem::Descriptor(signed).verify(), Ok(()));
    }

    #[test]
    fn descriptor_encoding_roundtrips(signed in arb_signed_descriptor(), extra in any::<u8>()) {
        let bytes = encoding::to_bytes(&signed);
        prop_assert_eq!(&encoding::to_bytes(&signed), &bytes);
        let decoded = encoding::from_bytes::<SignedDescriptor>(&bytes, 256 * 1024);
        prop_assert_eq!(decoded.as_ref(), Ok(&signed));
        let decoded = decoded.map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(encoding::to_bytes(&decoded), bytes.clone());
        // The signature still verifies after the trip: it covers the value,
        // not the received bytes.
        prop_assert!(decoded.verify().is_ok());
        prop_assert_eq!(decoded.value.hash(), signed.value.hash());
        prop_assert_eq!(decoded.hash(), signed.hash());
        for len in 0..bytes.len() {
            prop_assert!(encoding::from_bytes::<SignedDescriptor>(&bytes[..len], 256 * 1024).is_err());
        }
        let mut longer = bytes.clone();
        longer.push(extra);
        prop_assert_eq!(
            encoding::from_bytes::<SignedDescriptor>(&longer, 256 * 1024).err(),
            Some(DecodeError::TrailingBytes { extra: 1 })
        );
        prop_assert_eq!(
            encoding::from_bytes::<SignedDescriptor>(&bytes, bytes.len() - 1).err(),
            Some(DecodeError::TooLarge { len: bytes.len(), limit: bytes.len() - 1 })
        );
    }

    #[test]
    fn gossip_roundtrips(envelope in arb_envelope(), extra in any::<u8>()) {
        GOSSIP.roundtrip(&envelope)?;
        GOSSIP.truncations_fail(&envelope)?;
        GOSSIP.trailing_byte_fails(&envelope, extra)?;
    }

    #[test]
    fn request_roundtrips(frame in arb_request(), extra in any::<u8>()) {
        REQUEST.roundtrip(&frame)?;
        REQUEST.truncations_fail(&frame)?;
        REQUEST.trailing_byte_fails(&frame, extra)?;
    }

    #[test]
    fn response_roundtrips(response in arb_response(), extra in any::<u8>()) {
        RESPONSE.roundtrip(&response)?;
        RESPONSE.truncations_fail(&response)?;
        RESPONSE.trailing_byte_fails(&response, extra)?;
    }

    #[test]
    fn other_protocol_versions_are_refused(
        envelope in arb_envelope(),
        frame in arb_request(),
        version in any::<u16>()
            .prop_filter("not ours", |v| *v != PROTOCOL_VERSION && *v != GOSSIP_VERSION),
    ) {
        let mut envelope = envelope;
        envelope.version = version;
        prop_assert_eq!(
            wire::decode_gossip(&wire::encode_gossip(&envelope)).err(),
            Some(WireError::Version { got: version, supported: GOSSIP_VERSION })
        );
        let mut frame = frame;
        frame.version = version;
        prop_assert_eq!(
            wire::decode_request(&wire::encode_request(&frame)).err(),
            Some(WireError::Version { got: version, supported: PROTOCOL_VERSION })
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn oversized_input_is_refused_as_too_large(
        envelope in arb_envelope(),
        frame in arb_request(),
        response in arb_response(),
        over in 0usize..64,
        fill in any::<u8>(),
    ) {
        GOSSIP.oversized_fails(&envelope, over, fill)?;
        REQUEST.oversized_fails(&frame, over, fill)?;
        RESPONSE.oversized_fails(&response, over, fill)?;
    }
}

proptest! {
    // Cheap cases; many of them, since damage rarely lands somewhere
    // interesting (a set's order, a varint's width).
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn damaged_encodings_are_refused_or_canonical(
        envelope in arb_envelope(),
        frame in arb_request(),
        response in arb_response(),
        damages in arb_damage(),
    ) {
        GOSSIP.damaged_is_canonical_or_refused(&envelope, &damages)?;
        REQUEST.damaged_is_canonical_or_refused(&frame, &damages)?;
        RESPONSE.damaged_is_canonical_or_refused(&response, &damages)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoders(bytes in vec(any::<u8>(), 0..2048)) {
        // Any answer is fine; a panic fails the test. What is accepted must
        // be the canonical encoding of what it decodes to.
        if let Ok(v) = wire::decode_gossip(&bytes) {
            prop_assert_eq!(wire::encode_gossip(&v), bytes.clone());
        }
        if let Ok(v) = wire::decode_request(&bytes) {
            prop_assert_eq!(wire::encode_request(&v), bytes.clone());
        }
        if let Ok(v) = wire::decode_response(&bytes) {
            prop_assert_eq!(wire::encode_response(&v), bytes.clone());
        }
        let _ = encoding::from_bytes::<SignedDescriptor>(&bytes, 256 * 1024);
    }

    #[test]
    fn arbitrary_bytes_behind_a_valid_tag_never_panic(
        tag in 0u8..8,
        bytes in vec(any::<u8>(), 0..512),
    ) {
        // A plausible variant tag first gets the decoders past the first
        // byte more often than fully random input does.
        let mut input = vec![tag];
        input.extend_from_slice(&bytes);
        let _ = wire::decode_response(&input);
        let mut input = vec![1, tag];
        input.extend_from_slice(&bytes);
        let _ = wire::decode_gossip(&input);
        let _ = wire::decode_request(&input);
    }
}

#[test]
fn non_canonical_encodings_are_refused() {
    let owner = key(1);
    let signed = Signed::sign(descriptor(&owner, "orders", 3), &owner);
    let bytes = encoding::to_bytes(&signed);
    let limit = 256 * 1024;
    assert!(encoding::from_bytes::<SignedDescriptor>(&bytes, limit).is_ok());

    // The same value with its version (a varint) spelled in three bytes
    // instead of one: 251 announces a little-endian u16.
    let mut d = signed.value.clone();
    d.version = 0xab;
    let marked = encoding::to_bytes(&Signed {
        value: d,
        ..signed.clone()
    });
    // The version follows the product id (16-byte domain and name) and the
    // domain name; find it by comparing with an encoding with another version.
    let mut d2 = signed.value.clone();
    d2.version = 0xac;
    let other = encoding::to_bytes(&Signed {
        value: d2,
        ..signed.clone()
    });
    let at = marked
        .iter()
        .zip(&other)
        .position(|(a, b)| a != b)
        .expect("encodings differ in the version byte");
    assert_eq!(marked[at], 0xab);
    let mut long_varint = marked.clone();
    long_varint.splice(at..=at, [251, 0xab, 0]);
    // Plain `from_bytes` takes it (and the signature still verifies, since
    // it covers the value); the canonical decoder refuses it.
    let lenient = encoding::from_bytes::<SignedDescriptor>(&long_varint, limit);
    assert_eq!(lenient.map(|d| d.value.version), Ok(0xab));
    assert_eq!(
        encoding::from_canonical_bytes::<SignedDescriptor>(&long_varint, limit).err(),
        Some(DecodeError::NonCanonical),
        "a non-minimal varint must be refused"
    );
    // The same spelling inside a gossip message is refused by the wire
    // decoder.
    let envelope = GossipEnvelope {
        version: GOSSIP_VERSION,
        origin: NodeBinding::issue(&owner, vec![7; 38], Timestamp(0), 1000),
        message: GossipMessage::Catalog(CatalogItem::Descriptor(signed.clone())),
        signature: ByteBuf(vec![9; 64]),
    };
    let gossip = wire::encode_gossip(&envelope);
    let at = gossip
        .windows(bytes.len())
        .position(|w| w == &bytes[..])
        .unwrap();
    let mut long_gossip = gossip[..at].to_vec();
    long_gossip.extend_from_slice(&long_varint);
    long_gossip.extend_from_slice(&gossip[at + bytes.len()..]);
    assert_eq!(
        wire::decode_gossip(&long_gossip).err(),
        Some(WireError::Decode(DecodeError::NonCanonical))
    );

    // A set encoded out of order (or with a duplicate) is not the canonical
    // encoding of any set.
    let tags: Vec<String> = vec!["sales".into(), "orders".into()];
    let unsorted = encoding::to_bytes(&tags);
    assert_eq!(
        encoding::from_canonical_bytes::<BTreeSet<String>>(&unsorted, limit).err(),
        Some(DecodeError::NonCanonical)
    );
    let twice: Vec<String> = vec!["orders".into(), "orders".into()];
    assert_eq!(
        encoding::from_canonical_bytes::<BTreeSet<String>>(&encoding::to_bytes(&twice), limit)
            .err(),
        Some(DecodeError::NonCanonical)
    );
    // The same inside a wire message: a catalog fetch listing products out
    // of order.
    let (a, b) = (
        ProductId {
            domain: key(1).domain_id(),
            name: "a".into(),
        },
        ProductId {
            domain: key(2).domain_id(),
            name: "b".into(),
        },
    );
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    let fetch = |products: Vec<ProductId>| {
        // Encoded as a sequence, exactly as a set would be.
        let mut bytes = encoding::to_bytes(&(PROTOCOL_VERSION, None::<u8>, 4u8));
        bytes.extend(encoding::to_bytes(&products));
        bytes
    };
    let ordered = fetch(vec![lo.clone(), hi.clone()]);
    assert_eq!(
        wire::decode_request(&ordered).map(|f| f.request),
        Ok(Request::CatalogFetch([lo.clone(), hi.clone()].into()))
    );
    assert_eq!(
        wire::decode_request(&fetch(vec![hi, lo])).err(),
        Some(WireError::Decode(DecodeError::NonCanonical))
    );
    let sorted: Vec<String> = vec!["orders".into(), "sales".into()];
    assert_eq!(
        encoding::from_canonical_bytes::<BTreeSet<String>>(&encoding::to_bytes(&sorted), limit),
        Ok(sorted.into_iter().collect())
    );
}

// ---------------------------------------------------------------------------
// Catalog merge
// ---------------------------------------------------------------------------

/// How to build one pool item.
#[derive(Clone, Debug)]
enum ItemSpec {
    /// A descriptor with one of a few titles (same version, other title:
    /// equivocation).
    Descriptor { title: u8 },
    /// A withdrawal with one of a few reasons.
    Withdrawal { reason: u8 },
    /// A descriptor signed by the next domain's key, not the owner's.
    WrongSigner,
}

fn arb_item_spec() -> impl Strategy<Value = (usize, usize, u64, ItemSpec)> {
    let spec = prop_oneof![
        4 => (0u8..3).prop_map(|title| ItemSpec::Descriptor { title }),
        1 => (0u8..2).prop_map(|reason| ItemSpec::Withdrawal { reason }),
        1 => Just(ItemSpec::WrongSigner),
    ];
    (0usize..3, 0usize..3, 1u64..5, spec)
}

const PRODUCT_NAMES: [&str; 3] = ["orders", "invoices", "shipments"];

fn build_item(keys: &[DomainKeypair], spec: &(usize, usize, u64, ItemSpec)) -> CatalogItem {
    let (domain, product, version, kind) = spec;
    let owner = &keys[*domain];
    let name = PRODUCT_NAMES[*product];
    match kind {
        ItemSpec::Descriptor { title } => {
            let mut d = descriptor(owner, name, *version);
            d.title = format!("Title {title}");
            d.deprecation = None;
            CatalogItem::Descriptor(Signed::sign(d, owner))
        }
        ItemSpec::Withdrawal { reason } => CatalogItem::Withdrawal(Signed::sign(
            Withdrawal {
                product: ProductId {
                    domain: owner.domain_id(),
                    name: name.into(),
                },
                version: *version,
                reason: format!("reason {reason}"),
                at: Timestamp(*version),
            },
            owner,
        )),
        ItemSpec::WrongSigner => {
            let thief = &keys[(*domain + 1) % keys.len()];
            CatalogItem::Descriptor(Signed::sign(descriptor(owner, name, *version), thief))
        }
    }
}

/// Everything an observer can see of a catalog.
#[derive(Debug, PartialEq)]
struct Observed {
    items: Vec<CatalogItem>,
    digest: SyncDigest,
    current_evidence: BTreeMap<ProductId, Option<BTreeSet<Hash>>>,
}

fn observe(catalog: &Catalog) -> Observed {
    let current_evidence = catalog
        .items()
        .map(|item| {
            let ev = catalog
                .evidence()
                .get(&(item.product().clone(), item.version()))
                .map(|m| m.keys().copied().collect());
            (item.product().clone(), ev)
        })
        .collect();
    Observed {
        items: catalog.items().cloned().collect(),
        digest: catalog.digest(),
        current_evidence,
    }
}

/// A pool of item specs and several orders (permutations of its indices).
type PoolAndOrders = (Vec<(usize, usize, u64, ItemSpec)>, Vec<Vec<usize>>);

fn arb_pool_and_orders() -> impl Strategy<Value = PoolAndOrders> {
    vec(arb_item_spec(), 1..24).prop_flat_map(|pool| {
        let order: Vec<usize> = (0..pool.len()).collect();
        (Just(pool), vec(Just(order).prop_shuffle(), 4))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn catalog_merge_is_order_independent(
        domains in 2usize..=3,
        (pool, orders) in arb_pool_and_orders(),
    ) {
        let keys: Vec<DomainKeypair> = (1..=3u8).map(key).collect();
        let keys = &keys[..domains];
        let items: Vec<CatalogItem> = pool
            .iter()
            .map(|(d, p, v, k)| build_item(keys, &(d % domains, *p, *v, k.clone())))
            .collect();

        // The model: per product, among items that verify, the highest
        // version wins; at that version the smallest hash is current and,
        // if several distinct items share it, all are evidence.
        let mut model: BTreeMap<ProductId, (u64, BTreeSet<Hash>)> = BTreeMap::new();
        for item in items.iter().filter(|i| i.verify().is_ok()) {
            let entry = model
                .entry(item.product().clone())
                .or_insert((item.version(), BTreeSet::new()));
            if item.version() > entry.0 {
                *entry = (item.version(), BTreeSet::new());
            }
            if item.version() == entry.0 {
                entry.1.insert(item.hash());
            }
        }

        let mut first: Option<Observed> = None;
        for order in std::iter::once((0..items.len()).collect::<Vec<_>>()).chain(orders) {
            let mut catalog = Catalog::default();
            for &i in &order {
                let result = catalog.insert(items[i].clone());
                if items[i].verify().is_err() {
                    prop_assert!(result.is_err(), "unverifiable item was merged");
                }
            }
            prop_assert_eq!(catalog.len(), model.len());
            for (product, (version, hashes)) in &model {
                let current = catalog.get(product);
                prop_assert_eq!(current.map(CatalogItem::version), Some(*version));
                prop_assert_eq!(current.map(CatalogItem::hash), hashes.first().copied());
                let evidence = catalog
                    .evidence()
                    .get(&(product.clone(), *version))
                    .map(|m| m.keys().copied().collect::<BTreeSet<_>>());
                let expected = (hashes.len() > 1).then(|| hashes.clone());
                prop_assert_eq!(evidence, expected);
            }
            let seen = observe(&catalog);
            match &first {
                None => first = Some(seen),
                Some(f) => prop_assert_eq!(f, &seen),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Governance
// ---------------------------------------------------------------------------

/// A federation of `n` members `m0..`, keyed by seeds `1..=n`.
struct Fixture {
    keys: Vec<DomainKeypair>,
    genesis: Genesis,
}

#[allow(clippy::expect_used, reason = "test setup of known-good values")]
impl Fixture {
    fn new(n: usize) -> Self {
        let keys: Vec<DomainKeypair> = (1..=n)
            .map(|i| {
                let mut secret = [0u8; 32];
                secret[..8].copy_from_slice(&(i as u64).to_le_bytes());
                DomainKeypair::from_secret(secret)
            })
            .collect();
        let members = keys
            .iter()
            .enumerate()
            .map(|(i, k)| Member {
                name: format!("m{i}"),
                key: k.public(),
            })
            .collect();
        let genesis = Genesis::new(
            "federation",
            members,
            Quorum::TWO_THIRDS,
            BTreeSet::new(),
            Timestamp(0),
        )
        .expect("valid genesis");
        Self { keys, genesis }
    }

    fn federation(&self) -> Federation {
        Federation::new(self.genesis.clone()).expect("valid genesis")
    }
}

fn propose(
    fed: &Federation,
    proposer: &DomainKeypair,
    change: Change,
    expires_at: u64,
) -> Signed<Proposal> {
    Signed::sign(
        Proposal {
            federation: fed.id(),
            base_version: fed.state().version,
            change,
            reason: "because".into(),
            created_at: Timestamp(0),
            expires_at: Timestamp(expires_at),
        },
        proposer,
    )
}

fn vote_on(key: &DomainKeypair, proposal: &Proposal, approve: bool, at: u64) -> Signed<Vote> {
    Signed::sign(
        Vote {
            federation: proposal.federation,
            proposal: proposal.id(),
            base_version: proposal.base_version,
            approve,
            cast_at: Timestamp(at),
            reason: String::new(),
        },
        key,
    )
}

fn precommit(key: &DomainKeypair, proposal: &Proposal, round: u32) -> Signed<RoundVote> {
    Signed::sign(
        RoundVote {
            federation: proposal.federation,
            slot: proposal.base_version,
            round,
            kind: VoteKind::Precommit,
            value: Some(proposal.id()),
        },
        key,
    )
}

/// A certificate whose `voters` both approved the proposal and precommitted
/// it in round 0.
fn certificate(proposal: &Signed<Proposal>, voters: &[&DomainKeypair]) -> Certificate {
    Certificate {
        proposal: proposal.clone(),
        approvals: voters
            .iter()
            .map(|k| vote_on(k, &proposal.value, true, 10))
            .collect(),
        round: 0,
        precommits: voters
            .iter()
            .map(|k| precommit(k, &proposal.value, 0))
            .collect(),
    }
}

fn no_quorum(yes: usize, needed: usize) -> Result<(), CertificateError> {
    Err(CertificateError::NoQuorum { yes, needed })
}

fn verdict(fed: &Federation, cert: &Certificate) -> Result<(), CertificateError> {
    fed.verify(cert).map(|_| ())
}

#[test]
fn certificate_needs_a_quorum_of_member_yes_votes() {
    // Four members: more than two thirds is three.
    let fx = Fixture::new(4);
    let fed = fx.federation();
    let k = &fx.keys;
    let p = propose(
        &fed,
        &k[0],
        Change::AddPolicy(PolicyRule::RequireOwner),
        100,
    );

    assert_eq!(verdict(&fed, &certificate(&p, &[])), no_quorum(0, 3));
    assert_eq!(
        verdict(&fed, &certificate(&p, &[&k[0], &k[1]])),
        no_quorum(2, 3)
    );
    let next = fed
        .verify(&certificate(&p, &[&k[0], &k[1], &k[2]]))
        .expect("three of four is a quorum");
    assert_eq!(next.version, 1);
    assert!(next.policies.contains(&PolicyRule::RequireOwner));
    // Verification changes nothing; applying does.
    assert_eq!(fed.state().version, 0);
    let mut applied = fed.clone();
    applied
        .apply(certificate(&p, &[&k[0], &k[1], &k[2]]))
        .expect("applies");
    assert_eq!(applied.state(), &next);

    // No votes do not count as yes votes.
    let mut cert = certificate(&p, &[&k[0], &k[1]]);
    cert.approvals.push(vote_on(&k[2], &p.value, false, 10));
    cert.approvals.push(vote_on(&k[3], &p.value, false, 10));
    assert_eq!(verdict(&fed, &cert), no_quorum(2, 3));
}

#[test]
fn non_member_and_duplicate_votes_do_not_count() {
    let fx = Fixture::new(4);
    let fed = fx.federation();
    let k = &fx.keys;
    let p = propose(
        &fed,
        &k[0],
        Change::AddPolicy(PolicyRule::RequireOwner),
        100,
    );

    // Outsiders' votes, however many, do not count.
    let outsiders: Vec<DomainKeypair> = (100..104).map(key).collect();
    let mut cert = certificate(&p, &[&k[0], &k[1]]);
    cert.approvals
        .extend(outsiders.iter().map(|o| vote_on(o, &p.value, true, 10)));
    assert_eq!(verdict(&fed, &cert), no_quorum(2, 3));

    // One member voting yes three times (distinct signed votes) counts once.
    let mut cert = certificate(&p, &[&k[0], &k[1]]);
    for at in [11, 12, 13] {
        cert.approvals.push(vote_on(&k[1], &p.value, true, at));
    }
    assert_eq!(verdict(&fed, &cert), no_quorum(2, 3));
    // The exact same vote repeated counts once as well.
    let mut cert = certificate(&p, &[&k[0], &k[1]]);
    let again = cert.approvals[0].clone();
    cert.approvals.push(again);
    assert_eq!(verdict(&fed, &cert), no_quorum(2, 3));

    // More than two votes per member is refused outright.
    let mut cert = certificate(&p, &[&k[0], &k[1], &k[2]]);
    while cert.approvals.len() <= 8 {
        cert.approvals.push(vote_on(&k[3], &p.value, false, 10));
    }
    assert_eq!(verdict(&fed, &cert), Err(CertificateError::TooManyVotes(9)));
}

#[test]
fn votes_for_another_proposal_or_after_expiry_do_not_count() {
    let fx = Fixture::new(4);
    let fed = fx.federation();
    let k = &fx.keys;
    let p = propose(
        &fed,
        &k[0],
        Change::AddPolicy(PolicyRule::RequireOwner),
        100,
    );
    let q = propose(
        &fed,
        &k[0],
        Change::AddPolicy(PolicyRule::PiiNeverPublic),
        100,
    );

    // A yes vote for proposal q attached to p's certificate.
    let mut cert = certificate(&p, &[&k[0], &k[1]]);
    cert.approvals.push(vote_on(&k[2], &q.value, true, 10));
    assert_eq!(verdict(&fed, &cert), no_quorum(2, 3));

    // A vote that names p's id but another slot.
    let mut cert = certificate(&p, &[&k[0], &k[1]]);
    let mut off_slot = p.value.clone();
    off_slot.base_version = 7;
    let mut v = vote_on(&k[2], &off_slot, true, 10);
    v.value.proposal = p.value.id();
    cert.approvals.push(Signed::sign(v.value, &k[2]));
    assert_eq!(verdict(&fed, &cert), no_quorum(2, 3));

    // A vote for a proposal in another federation.
    let other_fx = Fixture::new(5);
    let other_fed = other_fx.federation();
    let mut cert = certificate(&p, &[&k[0], &k[1]]);
    let mut v = vote_on(&k[2], &p.value, true, 10).value;
    v.federation = other_fed.id();
    cert.approvals.push(Signed::sign(v, &k[2]));
    assert_eq!(verdict(&fed, &cert), no_quorum(2, 3));

    // A vote cast after the proposal expired; at expiry exactly it counts.
    let mut cert = certificate(&p, &[&k[0], &k[1]]);
    cert.approvals.push(vote_on(&k[2], &p.value, true, 101));
    assert_eq!(verdict(&fed, &cert), no_quorum(2, 3));
    let mut cert = certificate(&p, &[&k[0], &k[1]]);
    cert.approvals.push(vote_on(&k[2], &p.value, true, 100));
    cert.precommits.push(precommit(&k[2], &p.value, 0));
    assert_eq!(verdict(&fed, &cert), Ok(()));
}

#[test]
fn forged_votes_do_not_count() {
    let fx = Fixture::new(4);
    let fed = fx.federation();
    let k = &fx.keys;
    let p = propose(
        &fed,
        &k[0],
        Change::AddPolicy(PolicyRule::RequireOwner),
        100,
    );

    // A tampered signature.
    let mut cert = certificate(&p, &[&k[0], &k[1], &k[2]]);
    cert.approvals[2].signature[10] ^= 1;
    assert_eq!(verdict(&fed, &cert), no_quorum(2, 3));

    // A signature moved onto another member's vote.
    let mut cert = certificate(&p, &[&k[0], &k[1], &k[2]]);
    cert.approvals[2].signer = k[3].public();
    assert_eq!(verdict(&fed, &cert), no_quorum(2, 3));

    // A vote changed from no to yes after signing.
    let mut cert = certificate(&p, &[&k[0], &k[1]]);
    let mut flipped = vote_on(&k[2], &p.value, false, 10);
    flipped.value.approve = true;
    cert.approvals.push(flipped);
    assert_eq!(verdict(&fed, &cert), no_quorum(2, 3));

    // A forged vote does not hide a valid one from the same member.
    let mut cert = certificate(&p, &[&k[0], &k[1], &k[2]]);
    let mut forged = cert.approvals[2].clone();
    forged.signature[0] ^= 1;
    cert.approvals.insert(0, forged);
    assert_eq!(verdict(&fed, &cert), Ok(()));

    // A tampered proposal fails as a proposal.
    let mut cert = certificate(&p, &[&k[0], &k[1], &k[2]]);
    cert.proposal.value.reason.push('!');
    assert_eq!(
        verdict(&fed, &cert),
        Err(CertificateError::Proposal(ProposalError::Signature(
            SignatureError::Mismatch
        )))
    );
}

#[test]
fn removed_member_votes_stop_counting_in_the_next_slot() {
    let fx = Fixture::new(4);
    let mut fed = fx.federation();
    let k = &fx.keys;
    let removed = k[3].domain_id();
    let p = propose(&fed, &k[0], Change::RemoveMember(removed), 100);
    // The member about to be removed still counts in this slot.
    fed.apply(certificate(&p, &[&k[1], &k[2], &k[3]]))
        .expect("removal passes");
    assert!(!fed.state().is_member(&removed));
    assert_eq!(fed.state().members.len(), 3);

    // Three members: more than two thirds is all three.
    let q = propose(
        &fed,
        &k[0],
        Change::AddPolicy(PolicyRule::RequireOwner),
        100,
    );
    assert_eq!(
        verdict(&fed, &certificate(&q, &[&k[0], &k[1], &k[3]])),
        no_quorum(2, 3)
    );
    assert_eq!(
        verdict(&fed, &certificate(&q, &[&k[0], &k[1], &k[2]])),
        Ok(())
    );
    // And the removed member can no longer propose.
    let r = propose(
        &fed,
        &k[3],
        Change::AddPolicy(PolicyRule::RequireOwner),
        100,
    );
    assert_eq!(
        verdict(&fed, &certificate(&r, &[&k[0], &k[1], &k[2]])),
        Err(CertificateError::Proposal(ProposalError::NotMember(
            removed
        )))
    );
}

/// A chain of four certificates on a five-member federation, each with
/// exactly a quorum of votes.
#[allow(clippy::expect_used, reason = "test setup of known-good values")]
fn chain(fx: &Fixture) -> (Federation, Vec<Certificate>) {
    let k = &fx.keys;
    let mut fed = fx.federation();
    let mut chain = Vec::new();
    let changes = [
        Change::AddPolicy(PolicyRule::RequireOwner),
        Change::RemoveMember(k[4].domain_id()),
        Change::SetQuorum(Quorum {
            numerator: 1,
            denominator: 2,
        }),
        Change::AddPolicy(PolicyRule::MaxRetentionDays(30)),
    ];
    for change in changes {
        let p = propose(&fed, &k[0], change, 100);
        let needed = fed.state().quorum.threshold(fed.state().members.len());
        let voters: Vec<&DomainKeypair> = k.iter().take(needed).collect();
        let cert = certificate(&p, &voters);
        fed.apply(cert.clone()).expect("chain link applies");
        chain.push(cert);
    }
    (fed, chain)
}

#[test]
fn replay_matches_applying_one_by_one() {
    let fx = Fixture::new(5);
    let (fed, chain) = chain(&fx);
    assert_eq!(fed.state().version, 4);
    let replayed = Federation::replay(fx.genesis.clone(), chain.clone()).expect("replays");
    assert_eq!(replayed.state(), fed.state());
    assert_eq!(replayed.chain(), fed.chain());
    let mut head = fx.genesis.id().0;
    for cert in &chain {
        head = cert.decision_head(&head);
    }
    assert_eq!(replayed.state().head, head);
    assert_eq!(replayed.state().members.len(), 4);
    assert_eq!(
        replayed.state().quorum,
        Quorum {
            numerator: 1,
            denominator: 2
        }
    );

    // Every prefix replays to the state after that many certificates.
    for len in 0..chain.len() {
        let partial =
            Federation::replay(fx.genesis.clone(), chain[..len].to_vec()).expect("prefix");
        assert_eq!(partial.state().version, len as u64);
    }

    // A tampered proposal in certificate 2.
    let mut bad = chain.clone();
    bad[2].proposal.value.reason = "changed".into();
    assert_eq!(
        Federation::replay(fx.genesis.clone(), bad).err(),
        Some(ChainError::Certificate {
            index: 2,
            error: CertificateError::Proposal(ProposalError::Signature(SignatureError::Mismatch)),
        })
    );

    // A forged approval in certificate 1, which carries exactly a quorum.
    let mut bad = chain.clone();
    bad[1].approvals[0].signature[3] ^= 1;
    assert_eq!(
        Federation::replay(fx.genesis.clone(), bad).err(),
        Some(ChainError::Certificate {
            index: 1,
            error: CertificateError::NoQuorum { yes: 3, needed: 4 },
        })
    );
    // A forged precommit there does not decide either.
    let mut bad = chain.clone();
    bad[1].precommits[0].signature[3] ^= 1;
    assert_eq!(
        Federation::replay(fx.genesis.clone(), bad).err(),
        Some(ChainError::Certificate {
            index: 1,
            error: CertificateError::NoDecision {
                round: 0,
                precommits: 3,
                needed: 4
            },
        })
    );

    // A certificate missing from the middle: the next one is ahead.
    let mut gap = chain.clone();
    gap.remove(1);
    assert_eq!(
        Federation::replay(fx.genesis.clone(), gap).err(),
        Some(ChainError::Certificate {
            index: 1,
            error: CertificateError::Proposal(ProposalError::Ahead { got: 2, current: 1 }),
        })
    );

    // A certificate replayed twice is outdated the second time.
    let mut twice = chain.clone();
    twice.insert(1, chain[0].clone());
    assert_eq!(
        Federation::replay(fx.genesis.clone(), twice).err(),
        Some(ChainError::Certificate {
            index: 1,
            error: CertificateError::Proposal(ProposalError::Outdated { got: 0, current: 1 }),
        })
    );

    // The chain does not replay on another genesis.
    let other = Fixture::new(5);
    let mut other_genesis = other.genesis.clone();
    other_genesis.name = "other".into();
    assert_eq!(
        Federation::replay(other_genesis, chain).err(),
        Some(ChainError::Certificate {
            index: 0,
            error: CertificateError::Proposal(ProposalError::WrongFederation),
        })
    );
}

#[test]
fn approvals_bind_nobody_and_a_failed_proposal_frees_the_slot() {
    let fx = Fixture::new(4);
    let fed = fx.federation();
    let k = &fx.keys;
    let a = propose(
        &fed,
        &k[0],
        Change::AddPolicy(PolicyRule::RequireOwner),
        100,
    );
    let b = propose(
        &fed,
        &k[1],
        Change::AddPolicy(PolicyRule::PiiNeverPublic),
        100,
    );
    let mut ballots = Ballots::default();
    assert_eq!(
        ballots.add_proposal(&fed, a.clone(), Timestamp(1)),
        Ok(true)
    );
    assert_eq!(
        ballots.add_proposal(&fed, b.clone(), Timestamp(1)),
        Ok(true)
    );
    assert_eq!(
        ballots.add_proposal(&fed, b.clone(), Timestamp(1)),
        Ok(false)
    );
    let (id_a, id_b) = (a.value.id(), b.value.id());
    assert_eq!(
        ballots.status(&fed, &id_a, Timestamp(5)),
        ProposalStatus::Open
    );

    // Members may approve both: approvals make proposals eligible, the
    // rounds pick one.
    for m in [&k[0], &k[1], &k[2]] {
        for p in [&a, &b] {
            assert_eq!(
                ballots.add_vote(&fed, vote_on(m, &p.value, true, 5)),
                Ok(VoteOutcome::Recorded)
            );
        }
    }
    let again = vote_on(&k[0], &a.value, true, 5);
    assert_eq!(ballots.add_vote(&fed, again), Ok(VoteOutcome::Duplicate));
    assert!(ballots.is_approved(&fed, &id_a) && ballots.is_approved(&fed, &id_b));
    assert_eq!(
        ballots.status(&fed, &id_a, Timestamp(500)),
        ProposalStatus::Approved
    );
    assert_eq!(ballots.approvals(&fed, &id_a).len(), 3);
    // The oldest approved proposal is the candidate (both made at 0: by id).
    assert_eq!(ballots.candidate(&fed), Some(id_a.min(id_b)));

    // A proposal two of four reject can no longer reach three approvals.
    let rejected = propose(
        &fed,
        &k[2],
        Change::AddPolicy(PolicyRule::RequireQualityPromises),
        100,
    );
    let id_rejected = rejected.value.id();
    ballots
        .add_proposal(&fed, rejected.clone(), Timestamp(1))
        .expect("c");
    ballots
        .add_vote(&fed, vote_on(&k[0], &rejected.value, false, 5))
        .expect("no");
    assert_eq!(
        ballots.status(&fed, &id_rejected, Timestamp(5)),
        ProposalStatus::Open
    );
    ballots
        .add_vote(&fed, vote_on(&k[1], &rejected.value, false, 5))
        .expect("no");
    assert_eq!(
        ballots.status(&fed, &id_rejected, Timestamp(5)),
        ProposalStatus::Rejected
    );
    // One nobody decided on expires.
    let idle = propose(
        &fed,
        &k[3],
        Change::AddPolicy(PolicyRule::MaxRetentionDays(9)),
        100,
    );
    ballots
        .add_proposal(&fed, idle.clone(), Timestamp(1))
        .expect("d");
    assert_eq!(
        ballots.status(&fed, &idle.value.id(), Timestamp(101)),
        ProposalStatus::Expired
    );
    // A vote cast after expiry is refused; its reason is bounded.
    assert!(
        ballots
            .add_vote(&fed, vote_on(&k[0], &idle.value, true, 101))
            .is_err()
    );
    let mut long = vote_on(&k[0], &idle.value, true, 5);
    long.value.reason = "x".repeat(mesh_protocol::governance::MAX_VOTE_REASON + 1);
    let long = Signed::sign(long.value, &k[0]);
    assert!(ballots.add_vote(&fed, long).is_err());
}

#[test]
fn a_certificate_needs_a_quorum_of_precommits_in_one_round() {
    let fx = Fixture::new(4);
    let fed = fx.federation();
    let k = &fx.keys;
    let p = propose(
        &fed,
        &k[0],
        Change::AddPolicy(PolicyRule::RequireOwner),
        100,
    );
    let id = p.value.id();
    let decided = |precommits: Vec<Signed<RoundVote>>, round: u32| Certificate {
        proposal: p.clone(),
        approvals: [&k[0], &k[1], &k[2]]
            .iter()
            .map(|m| vote_on(m, &p.value, true, 10))
            .collect(),
        round,
        precommits,
    };
    let no_decision = |precommits, round| {
        Err(CertificateError::NoDecision {
            round,
            precommits,
            needed: 3,
        })
    };
    // Approvals alone decide nothing.
    assert_eq!(verdict(&fed, &decided(Vec::new(), 0)), no_decision(0, 0));
    // Precommits of another round, another value, nil or prevotes do not count.
    let other = |m: &DomainKeypair, round, kind, value| {
        Signed::sign(
            RoundVote {
                federation: fed.id(),
                slot: 0,
                round,
                kind,
                value,
            },
            m,
        )
    };
    let junk = vec![
        precommit(&k[0], &p.value, 0),
        precommit(&k[1], &p.value, 0),
        other(&k[2], 1, VoteKind::Precommit, Some(id)),
        other(&k[2], 0, VoteKind::Prevote, Some(id)),
        other(&k[3], 0, VoteKind::Precommit, None),
        other(
            &k[3],
            0,
            VoteKind::Precommit,
            Some(ProposalId(Hash([9; 32]))),
        ),
    ];
    assert_eq!(verdict(&fed, &decided(junk, 0)), no_decision(2, 0));
    // A forged precommit does not count; three good ones decide.
    let mut forged = precommit(&k[2], &p.value, 0);
    forged.signature[0] ^= 1;
    let mut three: Vec<_> = [&k[0], &k[1], &k[3]]
        .iter()
        .map(|m| precommit(m, &p.value, 0))
        .collect();
    three.insert(0, forged);
    let next = fed
        .verify(&decided(three, 0))
        .expect("a quorum of precommits");
    assert_eq!(next.version, 1);
}

/// What one correct member precommits in the round.
#[derive(Clone, Copy, Debug)]
enum Choice {
    Neither,
    A,
    B,
}

fn arb_safety_case() -> impl Strategy<Value = (usize, usize, Vec<Choice>)> {
    (4usize..=40).prop_flat_map(|n| {
        let max_faulty = (n - 1) / 3;
        (
            Just(n),
            0..=max_faulty,
            vec(
                prop_oneof![Just(Choice::Neither), Just(Choice::A), Just(Choice::B)],
                n,
            ),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// In one round, a correct member precommits at most one value; faulty
    /// ones (fewer than a third) precommit both. Two certificates for the
    /// slot never both verify, and each verifies exactly when its distinct
    /// precommitters reach the quorum. (Across rounds, the locking rules
    /// keep this; `tests/consensus.rs` explores them.)
    #[test]
    fn conflicting_certificates_never_both_verify(
        (n, faulty, choices) in arb_safety_case(),
    ) {
        prop_assert!(3 * faulty < n);
        let fx = Fixture::new(n);
        let fed = fx.federation();
        let k = &fx.keys;
        let a = propose(&fed, &k[0], Change::AddPolicy(PolicyRule::RequireOwner), 100);
        let b = propose(&fed, &k[n - 1], Change::AddPolicy(PolicyRule::RequireQualityPromises), 100);
        // Everyone approved both: only the precommits tell them apart.
        let everyone: Vec<&DomainKeypair> = k.iter().collect();
        let mut cert_a = certificate(&a, &everyone);
        let mut cert_b = certificate(&b, &everyone);
        cert_a.precommits.clear();
        cert_b.precommits.clear();
        for (i, member) in k.iter().enumerate() {
            let picks: &[bool] = if i < faulty {
                &[true, false]
            } else {
                match choices[i] {
                    Choice::Neither => &[],
                    Choice::A => &[true],
                    Choice::B => &[false],
                }
            };
            for pick_a in picks {
                if *pick_a {
                    cert_a.precommits.push(precommit(member, &a.value, 0));
                } else {
                    cert_b.precommits.push(precommit(member, &b.value, 0));
                }
            }
        }
        let needed = Quorum::TWO_THIRDS.threshold(n);
        let ok_a = fed.verify(&cert_a).is_ok();
        let ok_b = fed.verify(&cert_b).is_ok();
        prop_assert_eq!(ok_a, cert_a.precommits.len() >= needed);
        prop_assert_eq!(ok_b, cert_b.precommits.len() >= needed);
        prop_assert!(!(ok_a && ok_b), "conflicting certificates both verify");
    }
}

// ---------------------------------------------------------------------------
// No panics on values that arrive from the network
// ---------------------------------------------------------------------------

fn arb_manifest() -> impl Strategy<Value = Manifest> {
    let size = prop_oneof![any::<u64>(), 0u64..100_000, Just(u64::MAX)];
    let chunk_size = prop_oneof![any::<u32>(), (0u32..=31).prop_map(|s| 1 << s), Just(0)];
    (size, chunk_size, vec(arb_hash(), 0..6)).prop_map(|(size, chunk_size, chunks)| Manifest {
        size,
        chunk_size,
        chunks,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_manifest_answers_chunk_questions_without_panicking(
        manifest in arb_manifest(),
        data in vec(any::<u8>(), 0..64),
    ) {
        let consistent = manifest.check_consistent().is_ok();
        let count = u32::try_from(manifest.chunk_count()).expect("few chunks");
        for index in 0..=count {
            let len = manifest.chunk_len(index);
            prop_assert_eq!(len.is_ok(), index < count);
            if consistent && let Ok(len) = len {
                // In a consistent manifest every chunk is non-empty and the
                // chunks add up to the size.
                prop_assert!(len > 0 && len <= u64::from(manifest.chunk_size));
            }
            let _ = manifest.verify_chunk(index, &data);
            let _ = manifest.chunk_offset(index);
        }
        if consistent {
            let total: u64 = (0..count).map(|i| manifest.chunk_len(i).unwrap_or(0)).sum();
            prop_assert_eq!(total, manifest.size);
        }
    }

    #[test]
    fn policy_evaluation_never_panics(
        (_, next) in arb_descriptor(),
        (_, prev) in arb_descriptor(),
        rules in btree_set(arb_rule(), 0..6),
        prev_major in prop_oneof![any::<u32>(), Just(u32::MAX)],
    ) {
        let mut prev = prev;
        prev.schema.major = prev_major;
        let violations = mesh_protocol::policy::evaluate(&next, Some(&prev), &rules);
        for v in &violations {
            prop_assert!(rules.contains(&v.rule));
            prop_assert!(!v.reason.is_empty());
        }
    }
}

#[test]
fn breaking_change_at_the_highest_schema_major_is_reported() {
    let owner = key(1);
    let mut prev = descriptor(&owner, "orders", 1);
    prev.schema.major = u32::MAX;
    let mut next = prev.clone();
    next.version = 2;
    next.schema.fields.pop();
    let v = mesh_protocol::policy::evaluate(&next, Some(&prev), [&PolicyRule::SchemaCompatibility]);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(
        v[0].reason.contains("\"email\" was removed"),
        "{}",
        v[0].reason
    );
}

#[test]
fn inconsistent_manifest_does_not_panic() {
    // Three chunks claimed for ten bytes: chunk 2 starts past the end.
    let m = Manifest {
        size: 10,
        chunk_size: 4096,
        chunks: vec![Hash::of(b"a"), Hash::of(b"b"), Hash::of(b"c")],
    };
    assert!(m.check_consistent().is_err());
    assert_eq!(m.chunk_len(0), Ok(10));
    assert_eq!(m.chunk_len(2), Ok(0));
    assert!(m.verify_chunk(2, b"x").is_err());
}
