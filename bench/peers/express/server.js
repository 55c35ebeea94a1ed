// The public lawyer directory (GET /api/lawyers/verified?page&limit) as an Express + pg app
// answers it with no cache: the peer of nyaya's uncached directory in bench/baseline.sh.
// It reads the database a nyaya binary seeded (same tables) and answers the same shape:
// {success, data: [public lawyers], pagination, meta}. One process, as `node server.js`;
// `WORKERS=2` forks one per core with node:cluster (what PM2's cluster mode does).
//
//   DATABASE_URL=postgres://postgres@127.0.0.1/db PORT=5990 node server.js
const cluster = require("node:cluster");
const express = require("express");
const { Pool } = require("pg");

const workers = Number(process.env.WORKERS || 1);
if (cluster.isPrimary && workers > 1) {
  for (let i = 0; i < workers; i++) cluster.fork();
  return;
}

const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.PG_POOL || 10) });
const VERIFIED = "role = 'lawyer' AND is_verified = TRUE AND verification_status = 'verified' AND is_active = TRUE";

function publicDetails(raw) {
  const details = raw ? JSON.parse(raw) : {};
  delete details.verificationNotes;
  delete details.verificationDocuments;
  if (!Array.isArray(details.specialization)) details.specialization = [];
  return details;
}

const app = express();
app.get("/api/health/ping", (_req, res) => res.json({ success: true }));
app.get("/api/lawyers/verified", async (req, res) => {
  const page = Math.max(parseInt(req.query.page, 10) || 1, 1);
  const limit = Math.min(Math.max(parseInt(req.query.limit, 10) || 20, 1), 100);
  try {
    const [count, rows] = await Promise.all([
      pool.query(`SELECT COUNT(*) AS n FROM users WHERE ${VERIFIED}`),
      pool.query(
        `SELECT id, name, role, profile_picture, lawyer_details, created_at FROM users WHERE ${VERIFIED}
         ORDER BY created_at ASC, id ASC LIMIT $1 OFFSET $2`,
        [limit, (page - 1) * limit],
      ),
    ]);
    const total = Number(count.rows[0].n);
    const pages = Math.ceil(total / limit);
    const data = rows.rows.map((u) => ({
      _id: u.id,
      name: u.name,
      role: u.role,
      profilePicture: u.profile_picture,
      lawyerDetails: publicDetails(u.lawyer_details),
      createdAt: u.created_at,
    }));
    res.json({
      success: true,
      data,
      pagination: {
        currentPage: page,
        totalPages: pages,
        totalItems: total,
        itemsPerPage: limit,
        hasNextPage: page < pages,
        hasPrevPage: page > 1,
        nextPage: page < pages ? page + 1 : null,
        prevPage: page > 1 ? page - 1 : null,
      },
      meta: { timestamp: new Date().toISOString(), responseSize: JSON.stringify(data).length },
    });
  } catch (err) {
    console.error(err);
    res.status(500).json({ success: false, message: "Internal server error" });
  }
});

app.listen(Number(process.env.PORT || 5990), "127.0.0.1");
