//! `PRODUCT` arguments: `DOMAIN/NAME`, where `DOMAIN` is a domain id (32 hex
//! digits) or a domain name such as `sales`. Names are resolved through the
//! node's catalog; a name two domains share is refused with both ids.

use mesh_protocol::{DomainId, ProductId};

use crate::connect::{Api, encode_query};
use crate::error::{CliError, CliResult};

/// A product as the user wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductRef {
    /// The domain part: an id or a name.
    pub domain: String,
    /// The product name.
    pub name: String,
}

impl std::str::FromStr for ProductRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (domain, name) = s.split_once('/').ok_or_else(|| {
            format!("{s:?} is not a product; write it DOMAIN/NAME, e.g. sales/orders")
        })?;
        if domain.is_empty() || name.is_empty() || name.contains('/') {
            return Err(format!(
                "{s:?} is not a product; write it DOMAIN/NAME, e.g. sales/orders"
            ));
        }
        Ok(Self {
            domain: domain.to_owned(),
            name: name.to_owned(),
        })
    }
}

impl std::fmt::Display for ProductRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.domain, self.name)
    }
}

#[derive(serde::Deserialize)]
struct Resolved {
    products: Vec<String>,
}

fn unknown(product: &ProductRef) -> CliError {
    CliError::failed(format!(
        "unknown product {product}; list products with `mesh list`"
    ))
}

impl ProductRef {
    /// The product id, asking the node's catalog when the domain is a name.
    pub fn resolve(&self, api: &Api) -> CliResult<ProductId> {
        if let Ok(domain) = self.domain.parse::<DomainId>() {
            return format!("{domain}/{}", self.name)
                .parse()
                .map_err(|e| CliError::usage(format!("{self}: {e}")));
        }
        let found: Resolved = api.get(&format!(
            "/v1/resolve?domain_name={}&name={}",
            encode_query(&self.domain),
            encode_query(&self.name)
        ))?;
        let mut ids: Vec<ProductId> = found
            .products
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect();
        match ids.len() {
            0 => Err(unknown(self)),
            1 => Ok(ids.remove(0)),
            _ => Err(CliError::usage(format!(
                "several domains are named {}: {}; write the domain id instead",
                self.domain,
                ids.iter()
                    .map(|i| i.domain.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

/// The API path of a product.
pub fn path(id: &ProductId) -> String {
    format!("/v1/products/{}/{}", id.domain, encode_query(&id.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_refs_need_a_domain_and_a_name() {
        let r: ProductRef = "sales/orders".parse().unwrap();
        assert_eq!((r.domain.as_str(), r.name.as_str()), ("sales", "orders"));
        for bad in ["orders", "/orders", "sales/", "a/b/c"] {
            let e = bad.parse::<ProductRef>().unwrap_err();
            assert!(e.contains("DOMAIN/NAME"), "{bad}: {e}");
        }
    }
}
