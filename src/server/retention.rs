//! The retention RPCs (Sluice's): SetRetention and GetRetention. Setting a policy writes and
//! syncs its file, and reading one takes the stream's groups to count what the guard holds
//! back, so both run on the blocking pool.

use crate::proto::retention::{policy_from_proto, policy_to_proto, status_to_proto};
use crate::proto::v1;
use crate::server::status::RequestError;
use crate::server::streams::{blocking, StreamsService};

impl StreamsService {
    /// SetRetention: a policy with nothing set clears it.
    pub(super) async fn set_retention(
        &self,
        request: v1::SetRetentionRequest,
    ) -> Result<v1::SetRetentionResponse, RequestError> {
        let name = self.name(request.key)?;
        let policy = policy_from_proto(request.policy);
        let engine = self.engine.clone();
        blocking(move || Ok(engine.set_retention(&name, policy)?)).await?;
        Ok(v1::SetRetentionResponse {})
    }

    /// GetRetention: the policy and its status, both absent without a policy.
    pub(super) async fn get_retention(
        &self,
        request: v1::GetRetentionRequest,
    ) -> Result<v1::GetRetentionResponse, RequestError> {
        let name = self.name(request.key)?;
        let engine = self.engine.clone();
        let (policy, status) =
            blocking(move || Ok((engine.retention(&name)?, engine.retention_status(&name)?)))
                .await?;
        Ok(v1::GetRetentionResponse {
            policy: policy.as_ref().map(policy_to_proto),
            status: status.as_ref().map(status_to_proto),
        })
    }
}
