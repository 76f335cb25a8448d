"""CI edge: what `reconciler ci` needs to run plan and apply in pipelines.

- `comment`: the pull-request comment body (pure: plan -> Markdown, within the limit).
- `review`: whether a fresh plan still does what a reviewed one did (pure).
- `github`: the few GitHub REST calls (sticky comment, artifacts), over the shared
  HTTP seam of `reconciler.providers.http`.

The shell steps of the GitHub Action and the GitLab example live in `scripts/ci/`.
"""
