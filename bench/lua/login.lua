-- wrk: POST /api/auth/login as the seeded demo admin (the same password hashing as a
-- registration, without the write and the email).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"demo.admin@example.com","password":"Nyaya@2024"}'
