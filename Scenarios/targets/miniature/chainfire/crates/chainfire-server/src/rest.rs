//! Chainfire's REST API (plain HTTP). Text for the harness's static checks; the
//! miniature does not compile it.
use axum::{routing::{get, post}, Json, Router};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/api/v1/kv/:key", get(kv_get).put(kv_put))
        .route("/api/v1/cluster/status", get(cluster_status))
        .route("/admin/member/add", post(member_add))
        .with_state(state)
}

/// Adds a Raft member: body `{"id": "...", "raft_addr": "ip:port"}`.
async fn member_add(State(state): State<AppState>, Json(req): Json<MemberAddRequest>) -> Result<Json<MemberAddResponse>, ApiError> {
    let member = state.raft.add_learner(req.id, req.raft_addr).await?;
    state.raft.promote(member).await?;
    Ok(Json(MemberAddResponse { ok: true }))
}
