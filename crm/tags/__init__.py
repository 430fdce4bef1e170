"""Tag groups (分类) and tags (标签): managed by admins and managers at /tags."""
