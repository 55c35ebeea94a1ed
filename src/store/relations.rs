//! Who is related to whom: the checks behind Socket.IO relays (a user may only reach another
//! user's sockets when they share an active chat, an accepted connection, a consultation or a
//! case) and the audience of presence events (chat partners). A pending chat (a citizen's
//! request the lawyer has not accepted) and a pending connection request relate nobody.

use crate::db::{Db, RowExt, Sql};
use crate::ids::Id;

/// Users who share at least one active chat with `user` (presence events go to them).
pub async fn chat_partners(db: &Db, user: &Id) -> sqlx::Result<Vec<Id>> {
    let rows = db
        .all(
            &Sql::new(
                "SELECT DISTINCT other.user_id AS user_id FROM chat_participants mine \
                 JOIN chats c ON c.id = mine.chat_ref AND c.status = 'active' \
                 JOIN chat_participants other ON other.chat_ref = mine.chat_ref \
                 WHERE mine.user_id = $1 AND other.user_id <> $1",
            )
            .arg(user),
        )
        .await?;
    rows.iter().map(|r| r.id("user_id")).collect()
}

/// Whether `user` participates in the chat named `chat_id`.
pub async fn in_chat(db: &Db, chat_id: &str, user: &Id) -> sqlx::Result<bool> {
    let n = db
        .count(
            &Sql::new(
                "SELECT COUNT(*) FROM chat_participants p JOIN chats c ON c.id = p.chat_ref \
                 WHERE c.chat_id = $1 AND p.user_id = $2",
            )
            .arg(chat_id)
            .arg(user),
        )
        .await?;
    Ok(n > 0)
}

/// Whether two users share an active chat, an accepted direct connection, a consultation, or a
/// case (as its citizen and its assigned lawyer or a lawyer named in one of its requests).
pub async fn are_related(db: &Db, a: &Id, b: &Id) -> sqlx::Result<bool> {
    if a == b {
        return Ok(false);
    }
    let sql = Sql::new(
        "SELECT \
           (SELECT COUNT(*) FROM chat_participants p1 JOIN chat_participants p2 ON p2.chat_ref = p1.chat_ref \
              JOIN chats ch ON ch.id = p1.chat_ref AND ch.status = 'active' \
              WHERE p1.user_id = $1 AND p2.user_id = $2) \
         + (SELECT COUNT(*) FROM direct_connections \
              WHERE status = 'accepted' AND is_active = TRUE \
                AND ((citizen_id = $1 AND lawyer_id = $2) OR (citizen_id = $2 AND lawyer_id = $1))) \
         + (SELECT COUNT(*) FROM consultations \
              WHERE (citizen_id = $1 AND lawyer_id = $2) OR (citizen_id = $2 AND lawyer_id = $1)) \
         + (SELECT COUNT(*) FROM cases c WHERE \
              (c.citizen_id = $1 AND (c.assigned_lawyer_id = $2 OR EXISTS \
                 (SELECT 1 FROM case_requests r WHERE r.case_id = c.id AND r.lawyer_id = $2))) \
              OR (c.citizen_id = $2 AND (c.assigned_lawyer_id = $1 OR EXISTS \
                 (SELECT 1 FROM case_requests r WHERE r.case_id = c.id AND r.lawyer_id = $1)))) \
         AS related",
    )
    .arg(a)
    .arg(b);
    Ok(db.count(&sql).await? > 0)
}
