"""Every table, imported in one place so Alembic and create_all see the whole metadata."""
from pv_service.analytics.models import SequentialLook  # noqa: F401
from pv_service.alerting.models import Alert, AlertEvent, SignalAttachment, SignalNote  # noqa: F401,E402
from pv_service.audit.models import AuditRecord  # noqa: F401,E402
from pv_service.auth.models import ApiKey, AuthEpoch, LoginThrottle, Organization, User  # noqa: F401
from pv_service.cases.models import Case, CaseDrug, CaseReaction, CaseVersion  # noqa: F401
from pv_service.duplicates.models import (  # noqa: F401
    DuplicateCluster, DuplicateFeature, DuplicateOf, DuplicatePair, DuplicateScan)
from pv_service.followup.models import FollowupContact  # noqa: F401
from pv_service.jobs.models import JobRun  # noqa: F401,E402
from pv_service.meddra.models import MeddraPath, MeddraSmq, MeddraSmqTerm, MeddraTerm, MeddraVersion  # noqa: F401
from pv_service.patients.models import Patient, Treatment  # noqa: F401
from pv_service.products.models import (  # noqa: F401
    ConfirmatoryObligation,
    ObligationMilestone,
    Product,
    ProductApproval,
)
from pv_service.rsi.models import ReactionExpectedness, RsiTerm, RsiVersion  # noqa: F401,E402
from pv_service.signals.models import SignalPair, SignalRun, SignalTrend  # noqa: F401,E402
