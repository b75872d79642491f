//! RPC between Nova's daemons over AMQP, in oslo.messaging's wire format.
//!
//! Each service module (`conductor`, `scheduler`, `compute`, `network`)
//! declares its methods once with [`rpc_api!`], which generates:
//! - `Request`: one variant per method, serialised as `{"method", "args"}`;
//! - `Manager`: the trait the daemon implements (Nova's `manager.py`), or one
//!   trait per group of methods when the API is declared in groups;
//! - `Client`: typed methods that call or cast (Nova's `rpcapi.py`), sending
//!   the API's `version` and `namespace` with every message;
//! - `endpoint`, `server`, `serve`: the server side (see [`server`]), which
//!   refuses a message its endpoints' namespace, version or methods cannot
//!   serve, or whose caller the endpoint's policy does not allow
//!   (`endpoint_with_policy`; `endpoint` serves the control plane only).

pub mod envelope;
pub mod server;
pub mod service;
pub mod transport;

pub mod api;
pub mod compute;
pub mod compute_task;
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
///
/// ```text
/// rpc_api! {
///     topic: "conductor", [namespace: "compute_task",] version: "1.17" [, queue: "..."];
///     call fn method(arg: Type, ...) -> Reply;    // one `Manager` trait
///     ...
/// }
/// ```
///
/// or, for an API served by several concerns, its methods in groups, each
/// a trait of its own (`Manager` is then all of them):
///
/// ```text
/// rpc_api! {
///     topic: "conductor", version: "3.0";
///     trait Services { call fn service_get_all() -> Vec<Service>; ... }
///     trait Flavors { ... }
/// }
/// ```
///
/// `queue` (default: the topic) is where clients send and servers consume:
/// a namespace may have queues of its own, so that its messages never wait
/// behind another namespace's.
#[macro_export]
macro_rules! rpc_api {
    // An API in groups: a trait per group, `Manager` is all of them.
    (
        topic: $topic:literal, $(namespace: $ns:literal,)? version: $version:literal $(, queue: $queue:literal)?;
        $(
            $(#[$gdoc:meta])*
            trait $group:ident {
                $(
                    $(#[$doc:meta])*
                    $kind:ident fn $method:ident ( $( $arg:ident : $ty:ty ),* $(,)? ) -> $ret:ty;
                )*
            }
        )*
    ) => {
        $crate::rpc_api! { @common [$topic] [$($ns)?] [$version] [$($queue)?];
            $( $( [$group] $(#[$doc])* $kind fn $method ( $( $arg : $ty ),* ) -> $ret; )* )*
        }

        $(
            $(#[$gdoc])*
            #[$crate::__private::async_trait]
            pub trait $group: Send + Sync + 'static {
                $( $(#[$doc])* #[allow(clippy::too_many_arguments)] async fn $method(&self, ctx: &RequestContext, $( $arg: $ty ),*) -> Result<$ret, NovaError>; )*
            }
        )*

        /// The server side of this service: every group.
        pub trait Manager: $( $group + )* Send + Sync + 'static {}
        impl<T: $( $group + )* Send + Sync + 'static> Manager for T {}
    };
    // A flat API: one `Manager` trait.
    (
        topic: $topic:literal, $(namespace: $ns:literal,)? version: $version:literal $(, queue: $queue:literal)?;
        $(
            $(#[$doc:meta])*
            $kind:ident fn $method:ident ( $( $arg:ident : $ty:ty ),* $(,)? ) -> $ret:ty;
        )*
    ) => {
        $crate::rpc_api! { @common [$topic] [$($ns)?] [$version] [$($queue)?];
            $( [Manager] $(#[$doc])* $kind fn $method ( $( $arg : $ty ),* ) -> $ret; )*
        }

        /// The server side of this service.
        #[$crate::__private::async_trait]
        pub trait Manager: Send + Sync + 'static {
            // Wire methods take Nova's arguments, as many as it has.
            $( $(#[$doc])* #[allow(clippy::too_many_arguments)] async fn $method(&self, ctx: &RequestContext, $( $arg: $ty ),*) -> Result<$ret, NovaError>; )*
        }
    };
    (@namespace) => { None };
    (@namespace $ns:literal) => { Some($ns) };
    (@queue $topic:literal) => { $topic };
    (@queue $topic:literal $queue:literal) => { $queue };
    (
        @common [$topic:literal] [$($ns:literal)?] [$version:literal] [$($queue:literal)?];
        $(
            [$trait:ident]
            $(#[$doc:meta])*
            $kind:ident fn $method:ident ( $( $arg:ident : $ty:ty ),* ) -> $ret:ty;
        )*
    ) => {
        use nova_common::{NovaError, RequestContext};

        /// The service this API belongs to.
        pub const TOPIC: &str = $topic;
        /// The oslo.messaging namespace of these methods (`None`: the default one).
        pub const NAMESPACE: Option<&str> = $crate::rpc_api!(@namespace $($ns)?);
        /// This API's RPC version: sent with every message, checked by the server.
        pub const VERSION: &str = $version;
        /// Where clients send and servers consume (`QUEUE`, `QUEUE.<host>`, `QUEUE_fanout`).
        pub const QUEUE: &str = $crate::rpc_api!(@queue $topic $($queue)?);
        /// Every method, by its wire name.
        pub const METHODS: &[&str] = &[$(stringify!($method)),*];

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

        /// Route a decoded request to the manager; its result as JSON text.
        pub async fn dispatch<M: Manager + ?Sized>(
            m: &M,
            ctx: &RequestContext,
            req: Request,
        ) -> Result<$crate::envelope::ResultText, NovaError> {
            match req {
                $( Request::$method { $( $arg ),* } => {
                    let r = <M as $trait>::$method(m, ctx, $( $arg ),*).await?;
                    $crate::envelope::to_json_text(&r)
                } )*
            }
        }

        /// This namespace's endpoint, served by `manager` for the control
        /// plane only ([`ControlPlaneOnly`]($crate::server::ControlPlaneOnly)),
        /// for a [`Server`]($crate::server::Server).
        pub fn endpoint<M: Manager>(manager: std::sync::Arc<M>) -> $crate::server::Endpoint {
            endpoint_with_policy(manager, std::sync::Arc::new($crate::server::ControlPlaneOnly))
        }

        /// This namespace's endpoint, served by `manager` for whom `policy` allows.
        pub fn endpoint_with_policy<M: Manager, P: $crate::server::Policy<Request>>(
            manager: std::sync::Arc<M>,
            policy: std::sync::Arc<P>,
        ) -> $crate::server::Endpoint {
            $crate::server::Endpoint {
                namespace: NAMESPACE,
                version: VERSION,
                methods: METHODS,
                handler: std::sync::Arc::new(move |caller, ctx, call| {
                    let m = manager.clone();
                    let policy = policy.clone();
                    Box::pin(async move {
                        let req: Request = call
                            .request()
                            .map_err(|e| $crate::server::malformed_args(call.method(), e))?;
                        let ctx = policy
                            .authorize(&caller, ctx, &req)
                            .await
                            .inspect_err($crate::server::log_refusal)?;
                        dispatch(&*m, &ctx, req).await
                    })
                }),
            }
        }

        /// A server of this API's queues on `host`, with no endpoint yet.
        pub fn server(transport: &$crate::Transport, host: &str) -> $crate::server::Server {
            $crate::server::Server::new(transport, QUEUE, host)
        }

        /// Declare this API's durable queues for `host` (before announcing the service).
        pub async fn declare(transport: &$crate::Transport, host: &str) -> Result<(), NovaError> {
            $crate::server::declare(transport, QUEUE, host).await
        }

        /// Serve this API (alone) on `host` until `shutdown`.
        pub async fn serve<M: Manager>(
            transport: &$crate::Transport,
            host: &str,
            manager: std::sync::Arc<M>,
            shutdown: tokio_util::sync::CancellationToken,
            grace: std::time::Duration,
        ) {
            server(transport, host)
                .endpoint(endpoint(manager))
                .serve(shutdown, grace)
                .await
        }

        /// The client side of this service (Nova's `rpcapi.py`).
        #[derive(Clone)]
        pub struct Client {
            transport: $crate::Transport,
            target: $crate::Target,
            timeout: Option<std::time::Duration>,
            idempotent: bool,
        }

        impl Client {
            pub fn new(transport: $crate::Transport) -> Self {
                Client { transport, target: $crate::Target::topic(QUEUE), timeout: None, idempotent: false }
            }

            /// The connection this client sends on (to make clients of other APIs).
            pub fn transport(&self) -> &$crate::Transport {
                &self.transport
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

            /// For calls that are safe to handle twice (reads, compare-and-set
            /// updates): each is sent again when the broker connection is lost
            /// before its reply ([`Transport::call_idempotent`]($crate::Transport::call_idempotent)).
            pub fn idempotent(&self) -> Self {
                let mut c = self.clone();
                c.idempotent = true;
                c
            }

            $(
                $(#[$doc])*
                #[allow(clippy::too_many_arguments)]
                pub async fn $method(&self, ctx: &RequestContext, $( $arg: $ty ),*) -> Result<$ret, NovaError> {
                    let req = $crate::envelope::Call::new(stringify!($method), &Request::$method { $( $arg ),* })?;
                    $crate::rpc_api!(@invoke $kind, self, ctx, req, $ret)
                }
            )*
        }
    };
    (@invoke call, $self:ident, $ctx:ident, $req:ident, $ret:ty) => {{
        if $self.idempotent {
            $self.transport.call_idempotent_as::<$ret>($ctx, &$self.target, &$req, VERSION, NAMESPACE, $self.timeout).await
        } else {
            $self.transport.call_as::<$ret>($ctx, &$self.target, &$req, VERSION, NAMESPACE, $self.timeout).await
        }
    }};
    (@invoke cast, $self:ident, $ctx:ident, $req:ident, $ret:ty) => {{
        $self.transport.cast($ctx, &$self.target, &$req, VERSION, NAMESPACE).await
    }};
}

#[cfg(test)]
mod golden;
