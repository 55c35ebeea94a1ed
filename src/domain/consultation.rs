//! Consultations: their closed sets and the rules on them.

use super::string_enum::string_enum;

string_enum!(
    /// Where a consultation stands.
    ConsultationStatus, "consultation status" {
        Requested = "requested",
        Scheduled = "scheduled",
        Confirmed = "confirmed",
        InProgress = "in-progress",
        Completed = "completed",
        Cancelled = "cancelled",
        Rescheduled = "rescheduled",
    }
);

impl ConsultationStatus {
    /// The statuses the assigned lawyer may set (docs/api.md 3.9 #4).
    pub const SETTABLE: &'static [ConsultationStatus] = &[
        ConsultationStatus::Scheduled,
        ConsultationStatus::Confirmed,
        ConsultationStatus::Cancelled,
        ConsultationStatus::Completed,
    ];
    /// The statuses that may still be cancelled.
    pub const CANCELLABLE: &'static [ConsultationStatus] =
        &[ConsultationStatus::Requested, ConsultationStatus::Scheduled, ConsultationStatus::Confirmed];
    /// The statuses that hold the lawyer's time slot (the conflict check of a new request).
    pub const SLOT_HOLDING: &'static [ConsultationStatus] =
        &[ConsultationStatus::Scheduled, ConsultationStatus::Confirmed, ConsultationStatus::InProgress];

    pub fn is_settable(self) -> bool {
        Self::SETTABLE.contains(&self)
    }

    pub fn is_cancellable(self) -> bool {
        Self::CANCELLABLE.contains(&self)
    }
}

string_enum!(
    /// How a consultation is held.
    ConsultationType, "consultation type" { Video = "video", Audio = "audio", InPerson = "in-person" }
);
