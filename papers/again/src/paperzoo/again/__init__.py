"""Meta Automatic Curriculum Learning (Portelas, Romac, Hofmann and Oudeyer, 2020): AGAIN.

A teacher that trained a classroom of previous students with ALP-GMM transfers their curricula to a new
student: pre-test it with ALP-GMM, find the classroom students with the nearest knowledge-component vectors,
replay the best one's filtered ALP-GMM curriculum next to ALP-GMM. The teachers are numpy + scikit-learn.

    from paperzoo.again import AGAIN, ALPGMM, Classroom, ClassroomToyEnv, RandomTeacher
"""

from paperzoo.again.again import AGAIN
from paperzoo.again.alp import ALPComputer
from paperzoo.again.alp_gmm import ALPGMM, Mixture, proportional_choice
from paperzoo.again.classroom import Classroom, Curriculum, StudentSpec, TrainSpec, extract_curriculum, train
from paperzoo.again.random_teacher import RandomTeacher
from paperzoo.again.toy_env import ClassroomToyEnv

__all__ = [
    "AGAIN",
    "ALPGMM",
    "ALPComputer",
    "Classroom",
    "ClassroomToyEnv",
    "Curriculum",
    "Mixture",
    "RandomTeacher",
    "StudentSpec",
    "TrainSpec",
    "extract_curriculum",
    "proportional_choice",
    "train",
]
