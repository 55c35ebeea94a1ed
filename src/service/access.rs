//! Who may call what: the role gates of docs/api.md 1.7, written once for HTTP extractors,
//! services and Socket.IO handlers.

use serde::Serialize;

use crate::domain::user::VerificationStatus;
use crate::error::AppError;
use crate::store::users::{Role, User};

/// The `data` of LAWYER_NOT_VERIFIED.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PendingVerification {
    verification_status: VerificationStatus,
    is_verified: bool,
    role: Role,
    message: &'static str,
}

/// `authorize(roles)`: 403 naming the caller's role.
pub fn authorize(user: &User, roles: &[Role]) -> Result<(), AppError> {
    if roles.contains(&user.role) {
        Ok(())
    } else {
        Err(AppError::forbidden(format!("User role {} is not authorized to access this route", user.role)))
    }
}

/// `requireVerifiedLawyer` (docs/api.md 1.7), with the original's codes, messages and order.
/// Verified is [`User::is_verified_lawyer`]; deactivation is reported after it, as in the original.
pub fn require_verified_lawyer(user: &User) -> Result<(), AppError> {
    if user.role != Role::Lawyer {
        return Err(AppError::forbidden("Access restricted to lawyers only").with_code("LAWYER_ROLE_REQUIRED"));
    }
    if !user.is_verified_lawyer() {
        return Err(AppError::forbidden(
            "Your lawyer account is pending verification. Please wait for admin approval before accessing this feature.",
        )
        .with_code("LAWYER_NOT_VERIFIED")
        .with_data(
            serde_json::to_value(PendingVerification {
                verification_status: user.verification_status(),
                is_verified: false,
                role: Role::Lawyer,
                message: "Contact admin if verification is taking longer than expected.",
            })
            .expect("a view serializes"),
        ));
    }
    if !user.is_active {
        return Err(AppError::forbidden("Your account has been deactivated. Please contact support.")
            .with_code("ACCOUNT_DEACTIVATED"));
    }
    Ok(())
}
