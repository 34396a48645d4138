//! FlareDB's REST API. Text for the harness's static checks; not compiled here.
use axum::{routing::get, Router};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/api/v1/tables", get(list_tables))
        .route("/api/v1/stats", get(stats))
        .with_state(state)
}
