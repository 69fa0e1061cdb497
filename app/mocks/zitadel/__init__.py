"""The ZITADEL mock: its server (Session Service v2), its search filters and its sessions."""
