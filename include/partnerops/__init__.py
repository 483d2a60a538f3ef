"""partnerops: partnership operations for marketplace-brand agreements.

Signed agreements are validated and taken in (`partnerops.agreements`, `partnerops.intake`),
evidence of delivery is loaded, dbt decides each commitment's status, and alerts go out.
"""

__version__ = "0.1.0"
