//! RPC between Nova's daemons over AMQP, in oslo.messaging's wire format.
//!
//! Each service module (`conductor`, `scheduler`, `compute`, `network`)
//! declares its methods once with [`rpc_api!`], which generates:
//! - `Request`: one variant per method, serialised as `{"method", "args"}`;
//! - `Manager`: the trait the daemon implements (Nova's `manager.py`);
//! - `Client`: typed methods that call or cast (Nova's `rpcapi.py`);
//! - `dispatch` and `serve`: the server side.

pub mod envelope;
pub mod server;
pub mod service;
pub mod transport;

pub mod compute;
pub mod conductor;
pub mod network;
pub mod scheduler;

pub use transport::{Target, Transport};

#[doc(hidden)]
pub mod __private {
    pub use async_trait::async_trait;
    pub use futures_util::future::BoxFuture;
    pub use serde;
    pub use serde_json;
}

/// Declare a service's RPC API. See the crate docs.
#[macro_export]
macro_rules! rpc_api {
    (
        topic: $topic:literal, version: $version:literal;
        $(
            $(#[$doc:meta])*
            $kind:ident fn $method:ident ( $( $arg:ident : $ty:ty ),* $(,)? ) -> $ret:ty;
        )*
    ) => {
        use $crate::__private::serde_json;
        use nova_common::{NovaError, RequestContext};

        pub const TOPIC: &str = $topic;
        pub const VERSION: &str = $version;

        /// Every request of this service, as it appears on the wire.
        #[allow(non_camel_case_types, clippy::large_enum_variant)]
        #[derive(Debug, Clone, PartialEq, $crate::__private::serde::Serialize, $crate::__private::serde::Deserialize)]
        #[serde(crate = "self::__serde", tag = "method", content = "args")]
        pub enum Request {
            $( $(#[$doc])* $method { $( $arg: $ty ),* }, )*
        }

        #[doc(hidden)]
        pub use $crate::__private::serde as __serde;

        impl Request {
            pub fn method(&self) -> &'static str {
                match self { $( Request::$method { .. } => stringify!($method), )* }
            }

            /// One message of each kind with default arguments: the golden wire samples.
            pub fn golden_samples() -> Vec<Request> {
                vec![ $( Request::$method { $( $arg: <$ty>::default() ),* }, )* ]
            }
        }

        /// The server side of this service.
        #[$crate::__private::async_trait]
        pub trait Manager: Send + Sync + 'static {
            $( $(#[$doc])* async fn $method(&self, ctx: &RequestContext, $( $arg: $ty ),*) -> Result<$ret, NovaError>; )*
        }

        /// Route a decoded request to the manager.
        pub async fn dispatch<M: Manager + ?Sized>(
            m: &M,
            ctx: &RequestContext,
            req: Request,
        ) -> Result<serde_json::Value, NovaError> {
            match req {
                $( Request::$method { $( $arg ),* } => {
                    let r = m.$method(ctx, $( $arg ),*).await?;
                    Ok(serde_json::to_value(r)?)
                } )*
            }
        }

        /// Declare this topic's durable queues for `host` (before announcing the service).
        pub async fn declare(transport: &$crate::Transport, host: &str) -> Result<(), NovaError> {
            $crate::server::declare(transport, TOPIC, host).await
        }

        /// Serve this topic on `host` until `shutdown`.
        pub async fn serve<M: Manager>(
            transport: &$crate::Transport,
            host: &str,
            manager: std::sync::Arc<M>,
            shutdown: tokio_util::sync::CancellationToken,
            grace: std::time::Duration,
        ) {
            let handler: $crate::server::Handler<Request> = std::sync::Arc::new(move |ctx, req| {
                let m = manager.clone();
                Box::pin(async move { dispatch(&*m, &ctx, req).await })
            });
            $crate::server::serve(transport, TOPIC, host, handler, shutdown, grace).await
        }

        /// The client side of this service (Nova's `rpcapi.py`).
        #[derive(Clone)]
        pub struct Client {
            transport: $crate::Transport,
            target: $crate::Target,
            timeout: Option<std::time::Duration>,
        }

        impl Client {
            pub fn new(transport: $crate::Transport) -> Self {
                Client { transport, target: $crate::Target::topic(TOPIC), timeout: None }
            }

            /// Address one server's queue (`topic.server`).
            pub fn to_server(&self, server: &str) -> Self {
                let mut c = self.clone();
                c.target.server = Some(server.to_string());
                c
            }

            /// Cast to every server of the topic.
            pub fn fanout(&self) -> Self {
                let mut c = self.clone();
                c.target.fanout = true;
                c
            }

            pub fn with_timeout(&self, timeout: std::time::Duration) -> Self {
                let mut c = self.clone();
                c.timeout = Some(timeout);
                c
            }

            $(
                $(#[$doc])*
                pub async fn $method(&self, ctx: &RequestContext, $( $arg: $ty ),*) -> Result<$ret, NovaError> {
                    let req = serde_json::to_value(&Request::$method { $( $arg ),* })?;
                    $crate::rpc_api!(@invoke $kind, self, ctx, req, $ret)
                }
            )*
        }
    };
    (@invoke call, $self:ident, $ctx:ident, $req:ident, $ret:ty) => {{
        let v = $self.transport.call($ctx, &$self.target, &$req, VERSION, None, $self.timeout).await?;
        Ok(serde_json::from_value::<$ret>(v)?)
    }};
    (@invoke cast, $self:ident, $ctx:ident, $req:ident, $ret:ty) => {{
        $self.transport.cast($ctx, &$self.target, &$req, VERSION, None).await
    }};
}

#[cfg(test)]
mod golden;
