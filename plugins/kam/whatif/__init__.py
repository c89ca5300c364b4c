"""What-if: the value model under candidate rules on a copy of the warehouse, compared with the
current rules before anything is published (``kam whatif``; docs/whatif.md)."""
