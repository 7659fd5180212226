//! The consumer's side of "trust but verify": what the event loop does with
//! a profile recomputed from fetched bytes.
//!
//! The recomputation itself runs on a blocking thread with the export
//! ([`crate::profiling::verify`]); here the verdict is recorded. A match is
//! remembered (by descriptor hash) so a later export of the same version
//! does not read the bytes again; a mismatch is evidence, stored durably
//! with the signed descriptor and the recomputed profile, counted in
//! `/metrics`, logged and announced as [`NodeEvent::ProfileDisputed`].

use mesh_protocol::descriptor::Descriptor;
use mesh_protocol::{CatalogItem, SignedDescriptor};

use super::{EventLoop, NodeEvent, encoding, warn};
use crate::profiling::{ProfileCheck, ProfileDispute};

pub(crate) use crate::profiling::ProfileChecked as Checked;

/// The metadata key that remembers a profile that matched.
fn matched_key(descriptor: &Descriptor) -> String {
    format!("profile-ok/{}", descriptor.hash())
}

fn verdict_label(verdict: &ProfileCheck) -> &'static str {
    match verdict {
        ProfileCheck::Matches => "matches",
        ProfileCheck::Disputed => "disputed",
        ProfileCheck::NotProfiled => "not-profiled",
        ProfileCheck::OtherMethod => "other-method",
        ProfileCheck::NotChecked => "not-checked",
    }
}

impl EventLoop {
    /// The signed descriptor whose profile a finished fetch must check, or
    /// `None` when a verdict on this version is already recorded.
    pub(super) fn profile_to_check(&self, descriptor: &Descriptor) -> Option<SignedDescriptor> {
        if self.known_profile_check(descriptor) != ProfileCheck::NotProfiled
            || descriptor.profile.is_none()
        {
            return None;
        }
        self.signed_version(descriptor)
    }

    /// A verdict recorded earlier for this version (`NotProfiled` when none
    /// is).
    pub(super) fn known_profile_check(&self, descriptor: &Descriptor) -> ProfileCheck {
        let has = |key: String| self.store.meta(&key).ok().flatten().is_some();
        if has(ProfileDispute::key(descriptor)) {
            ProfileCheck::Disputed
        } else if has(matched_key(descriptor)) {
            ProfileCheck::Matches
        } else {
            ProfileCheck::NotProfiled
        }
    }

    fn signed_version(&self, descriptor: &Descriptor) -> Option<SignedDescriptor> {
        let from = |item: &CatalogItem| match item {
            CatalogItem::Descriptor(d) if d.value == *descriptor => Some(d.clone()),
            _ => None,
        };
        if let Some(found) = self.catalog.get(&descriptor.id).and_then(from) {
            return Some(found);
        }
        self.store
            .versions(&descriptor.id)
            .ok()?
            .iter()
            .find_map(from)
    }

    /// Records a recomputed profile's verdict; returns it.
    pub(super) fn record_profile_check(&mut self, checked: Checked) -> ProfileCheck {
        let Checked {
            signed,
            verdict,
            recomputed,
        } = checked;
        self.metrics.profile_checked(verdict_label(&verdict));
        match (&verdict, recomputed) {
            (ProfileCheck::Matches, _) => {
                if let Err(e) = self.store.put_meta(&matched_key(&signed.value), &[]) {
                    warn!(error = %e, "cannot record a matching profile");
                }
            }
            (ProfileCheck::Disputed, Some(recomputed)) => {
                let product = signed.value.id.clone();
                let version = signed.value.version;
                warn!(
                    %product, version,
                    "the owner's signed profile differs from the one its bytes give; evidence kept"
                );
                let key = ProfileDispute::key(&signed.value);
                let dispute = ProfileDispute { signed, recomputed };
                if let Err(e) = self.store.put_meta(&key, &encoding::to_bytes(&dispute)) {
                    warn!(error = %e, "cannot record a profile dispute");
                }
                self.emit(NodeEvent::ProfileDisputed { product, version });
            }
            _ => {}
        }
        verdict
    }
}
