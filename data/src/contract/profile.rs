//! The end of a check: the per-column state and the product-level rules
//! (missing fields, row count, completeness, freshness) turned into the
//! profile, in the order the module doc of [`super`] fixes.

use mesh_protocol::descriptor::DataType;
use mesh_protocol::profile::{
    Check, MAX_DETAIL_LEN, MAX_NOTES, MAX_VIOLATIONS, PROFILE_METHOD, Profile, Violation,
    truncate_text,
};

use super::value::timestamp_text;
use super::{CheckError, Profiler};

fn product_violation(check: Check, count: u64, detail: &str) -> Violation {
    Violation {
        field: None,
        check,
        count,
        first_rows: Vec::new(),
        detail: truncate_text(detail, MAX_DETAIL_LEN).to_owned(),
    }
}

impl Profiler<'_> {
    /// The profile of everything read; an error only when the scratch
    /// directory failed.
    pub(crate) fn finish(mut self) -> Result<Profile, CheckError> {
        for column in &mut self.columns {
            column
                .finish_unique()
                .map_err(|source| CheckError::Scratch {
                    dir: self.scratch.clone(),
                    source,
                })?;
        }
        let rows = self.rows;
        let contract = self.contract;
        let mut violations = Vec::new();
        let mut notes = Vec::new();
        if let Some(error) = &self.unreadable {
            violations.push(product_violation(Check::Unreadable, 0, error));
        }
        let mut valid_cells: u128 = 0;
        for field in &contract.fields {
            match self.present(&field.name) {
                None => violations.push(Violation {
                    field: Some(truncate_text(&field.name, MAX_DETAIL_LEN).to_owned()),
                    check: Check::Missing,
                    count: 0,
                    first_rows: Vec::new(),
                    detail: "declared field is not in the data".to_owned(),
                }),
                Some(column) => {
                    valid_cells += u128::from(column.values);
                    violations.extend(column.violations(rows));
                }
            }
        }
        for column in self.columns.iter().filter(|c| c.declared.is_none()) {
            notes.push(format!("column {:?} is not declared", column.name));
        }
        for name in &self.repeated_columns {
            notes.push(format!(
                "column {name:?} appears more than once; only the first is profiled"
            ));
        }
        if self.dropped_columns > 0 {
            notes.push(format!(
                "{} more columns are not profiled (limit {})",
                self.dropped_columns,
                mesh_protocol::descriptor::MAX_FIELDS
            ));
        }
        let quality = &contract.quality;
        if let Some(min) = quality.min_rows
            && rows < min
        {
            violations.push(product_violation(
                Check::RowCount,
                rows,
                &format!("{rows} rows; at least {min} promised"),
            ));
        }
        if let Some(max) = quality.max_rows
            && rows > max
        {
            violations.push(product_violation(
                Check::RowCount,
                rows,
                &format!("{rows} rows; at most {max} promised"),
            ));
        }
        let declared = contract.fields.len() as u128;
        let completeness = (rows > 0 && declared > 0).then(|| {
            let percent = valid_cells * 100 / (u128::from(rows) * declared);
            u8::try_from(percent.min(100)).unwrap_or(100)
        });
        if let (Some(promised), Some(measured)) = (quality.completeness_percent, completeness)
            && measured < promised
        {
            violations.push(product_violation(
                Check::Completeness,
                0,
                &format!("{measured}% of declared cells hold a value; {promised}% promised"),
            ));
        }
        self.freshness(&mut violations, &mut notes);
        let more = violations.len().saturating_sub(MAX_VIOLATIONS) as u64;
        violations.truncate(MAX_VIOLATIONS);
        let notes: Vec<String> = notes
            .iter()
            .take(MAX_NOTES)
            .map(|n| truncate_text(n, MAX_DETAIL_LEN).to_owned())
            .collect();
        Ok(Profile {
            method: PROFILE_METHOD,
            rows,
            fields: self.field_profiles(rows),
            completeness_percent: completeness,
            violations,
            more_violations: more,
            notes,
        })
    }

    /// The column of that name, if it is in the data.
    fn present(&self, name: &str) -> Option<&super::column::Column> {
        self.by_name
            .get(name)
            .map(|&i| &self.columns[i])
            .filter(|c| c.present)
    }

    /// The profile of every column in the data, in the order first seen.
    fn field_profiles(&self, rows: u64) -> Vec<mesh_protocol::profile::FieldProfile> {
        self.columns
            .iter()
            .filter(|c| c.present)
            .take(mesh_protocol::descriptor::MAX_FIELDS)
            .map(|c| c.profile(rows))
            .collect()
    }

    fn freshness(&self, violations: &mut Vec<Violation>, notes: &mut Vec<String>) {
        let quality = &self.contract.quality;
        let Some(limit) = quality.freshness_secs else {
            return;
        };
        let Some(name) = &quality.event_time_field else {
            notes.push("freshness is not measured: no event_time_field is declared".to_owned());
            return;
        };
        let declared = self.contract.fields.iter().find(|f| &f.name == name);
        if !declared.is_some_and(|f| matches!(f.data_type, DataType::Date | DataType::Timestamp)) {
            return;
        }
        let newest = self
            .by_name
            .get(name)
            .and_then(|&i| self.columns[i].newest_micros());
        let Some(newest) = newest else {
            violations.push(product_violation(
                Check::Freshness,
                0,
                &format!("{name} holds no value, so nothing shows the data is fresh"),
            ));
            return;
        };
        let created = i128::from(self.contract.created_at.0) * 1000;
        let lag_micros = created - i128::from(newest);
        if lag_micros > i128::from(limit) * 1_000_000 {
            let lag = lag_micros / 1_000_000;
            violations.push(product_violation(
                Check::Freshness,
                0,
                &format!(
                    "newest {name} is {}, {lag}s before publication; at most {limit}s promised",
                    timestamp_text(newest)
                ),
            ));
        }
    }
}
