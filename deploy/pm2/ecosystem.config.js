// PM2 for teams that already run it (guide: docs/deploy.md). Fork mode over the binary: PM2
// keeps one nyaya process alive; nyaya itself uses every core (and, with --workers, runs its
// own workers that share the port, which PM2's cluster mode cannot do for a non-Node binary).
//
//   pm2 start deploy/pm2/ecosystem.config.js --env production
//   pm2 sendSignal SIGHUP nyaya   # zero-downtime rolling reload of nyaya's workers
//   nyaya status                  # per-worker table (pm2 sees only the supervisor)
//
// `pm2 reload nyaya` restarts the process (fork mode has no zero-downtime reload); prefer the
// SIGHUP above.
module.exports = {
  apps: [
    {
      name: "nyaya",
      script: "/usr/local/bin/nyaya",
      args: "serve --workers max --max-memory 768MB --shutdown-timeout 20s",
      interpreter: "none",
      exec_mode: "fork",
      instances: 1,
      cwd: "/var/lib/nyaya",
      autorestart: true,
      // Exponential backoff between restarts of the supervisor, from 100 ms.
      exp_backoff_restart_delay: 100,
      // PM2 stops with SIGINT, which nyaya handles like SIGTERM (graceful drain); it sends
      // SIGKILL after kill_timeout, so keep that above --shutdown-timeout.
      kill_timeout: 30000,
      // PM2 checks this only every 30 s and restarts abruptly: it is a backstop behind the
      // per-worker --max-memory above. It counts the supervisor process only.
      max_memory_restart: "256M",
      merge_logs: true,
      env: {
        NYAYA_ENV: "development",
        PORT: "5000",
        DATA_DIR: "/var/lib/nyaya",
      },
      env_production: {
        NYAYA_ENV: "production",
        PORT: "5000",
        DATA_DIR: "/var/lib/nyaya",
        // Set these in the environment PM2 runs in (or an .env file in cwd), not here:
        // DATABASE_URL, REDIS_URL, JWT_SECRET, JWT_REFRESH_SECRET, SMTP_URL
      },
    },
  ],
};
