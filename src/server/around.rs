//! A tower layer that wraps every gRPC call in one async step, written once for the steps
//! the server puts around its services: authentication (`access`) and call metrics
//! (`metrics`). A step implements [`AroundCall`]; [`Around`] makes it a layer.

use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use tonic::codegen::http;

/// A gRPC request as the layers see it.
pub type HttpRequest = http::Request<tonic::body::Body>;
/// A gRPC response as the layers see it.
pub type HttpResponse = http::Response<tonic::body::Body>;

/// What a layer does around one call: it is handed the request and the inner service, ready
/// to take it, and answers (by calling it, or not).
pub trait AroundCall: Clone + Send + Sync + 'static {
    /// Handles one call.
    fn around<S>(
        &self,
        request: HttpRequest,
        inner: S,
    ) -> BoxFuture<'static, Result<HttpResponse, S::Error>>
    where
        S: tower::Service<HttpRequest, Response = HttpResponse> + Send + 'static,
        S::Future: Send + 'static;
}

/// The layer of an [`AroundCall`].
#[derive(Clone)]
pub struct Around<A>(pub A);

impl<S, A: AroundCall> tower::Layer<S> for Around<A> {
    type Service = AroundService<S, A>;

    fn layer(&self, inner: S) -> Self::Service {
        AroundService {
            inner,
            step: self.0.clone(),
        }
    }
}

/// [`Around`]'s service.
#[derive(Clone)]
pub struct AroundService<S, A> {
    inner: S,
    step: A,
}

impl<S, A> tower::Service<HttpRequest> for AroundService<S, A>
where
    S: tower::Service<HttpRequest, Response = HttpResponse> + Clone + Send + 'static,
    S::Future: Send + 'static,
    A: AroundCall,
{
    type Response = HttpResponse;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<HttpResponse, S::Error>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: HttpRequest) -> Self::Future {
        // The clone is ready only if polled; swap so the one polled ready serves this call.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        self.step.around(request, inner)
    }
}
