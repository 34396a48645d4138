//! Chainfire server start-up: the gRPC client API on client_port, the REST API on
//! http_port, served by plain axum (no TLS).
pub async fn serve(config: ServerConfig, state: AppState) -> anyhow::Result<()> {
    let grpc = tonic::transport::Server::builder().add_service(kv_service(state.clone()));
    let rest = rest::router(state);
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", config.http_port)).await?;
    tokio::spawn(async move { axum::serve(listener, rest).await });
    grpc.serve(([0, 0, 0, 0], config.client_port).into()).await?;
    Ok(())
}
