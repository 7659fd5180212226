//! `GET /v1/products/{domain}/{name}/lineage`: the product's upstream and
//! downstream graph across domains, as this node's catalog knows it (see
//! [`crate::lineage`]).

use axum::Json;
use axum::extract::State;
use mesh_protocol::catalog::Query as CatalogQuery;

use super::ApiState;
use super::extract::JsonPath;
use super::handlers::{ApiResult, product_id, unknown_product};
use crate::lineage::LineageGraph;
use crate::schemas::ErrorDoc;

#[utoipa::path(get, path = "/v1/products/{domain}/{name}/lineage", tag = "products",
    params(("domain" = String, Path, description = "Owning domain id"),
        ("name" = String, Path, description = "Product name")),
    responses((status = 200, description = "Upstream (negative depth) and downstream (positive) products and the edges between them; inputs the catalog does not know are marked `known: false`", body = LineageGraph),
        (status = 404, description = "unknown_product", body = ErrorDoc),
        (status = 400, body = ErrorDoc), (status = 401, body = ErrorDoc)))]
pub(super) async fn lineage(
    State(s): State<ApiState>,
    JsonPath((domain, name)): JsonPath<(String, String)>,
) -> ApiResult<LineageGraph> {
    let product = product_id(&domain, &name)?;
    graph_of(&s, &product)
        .await?
        .map(Json)
        .ok_or_else(|| unknown_product(&product))
}

/// The lineage graph around `product` over this node's whole catalog
/// (deprecated products included); `None` when the catalog does not know
/// it. The API's route and the web UI's page both draw this.
pub(super) async fn graph_of(
    s: &ApiState,
    product: &mesh_protocol::ProductId,
) -> Result<Option<LineageGraph>, crate::node::NodeError> {
    let catalog: Vec<_> = s
        .handle
        .query(CatalogQuery {
            include_deprecated: true,
            ..CatalogQuery::default()
        })
        .await?
        .into_iter()
        .map(|d| d.value)
        .collect();
    Ok(crate::lineage::graph(&catalog, product))
}
