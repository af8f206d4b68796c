"""nnshape's own torch modules: the twins of kinds that torch.nn lacks, and the containers of a network.

This package is the one home of every custom module. The verifier builds them (a kind's
``twin(call)`` names the class and its keyword arguments, see nnshape/twinspec.py); ``nnshape
export`` copies the source of the ones a network uses into the file it writes, reading these files
as text (so export needs no torch). Hence the rules for the modules here: they import only
``torch``, ``nn`` and each other (``from .containers import Seq``), define everything at the top
level without decorators, use names unique across the package, and no top-level name ends in
``_<digits>`` (the exported file's local names). tests/test_twins.py checks them.

Every definition is importable from here (``from nnshape.twins import Attention``), which is what
a file written with ``nnshape export --twins import`` does. Importing this package imports torch:
only the verifier (lazily) and exported files do.
"""

from .attention import *  # noqa: F401,F403
from .augmentation import *  # noqa: F401,F403
from .containers import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .shape import *  # noqa: F401,F403
from .windows import *  # noqa: F401,F403
from .multiscale import *  # noqa: F401,F403
from .models import *  # noqa: F401,F403
from .ssm import *  # noqa: F401,F403
