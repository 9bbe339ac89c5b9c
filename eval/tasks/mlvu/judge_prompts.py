"""MLVU's generation-task judge prompts, verbatim (whitespace included).

Source: JUNJIE99/MLVU@fd060c10a43ea48a35100a22688a927b8e531199
``evaluation/generation_evaluation/evaluate_ssc.py`` (Sub-Scene Captioning) and
``evaluation/generation_evaluation/evaluate_summary.py`` (Video Summarization), ``annotate``:
the system message and the user message (an f-string there; ``str.format`` fields here:
``question`` with its newlines removed, ``scoring_points`` as Python prints the released list,
``answer`` the reference, ``pred`` the model's answer). Used by ``mlvu_gen`` under
``protocol=official``; judge ``gpt-4-turbo``, temperature 0, one call per answer.
"""

SSC_SYSTEM = (
    "\n"
    "                            ##TASK DESCRIPTION: \n"
    "                            You are required to evaluate a respondent's answer based on a provided question, some scoring points, and the respondent's answer. You should provide two scores. The first is the accuracy score, which should range from 1 to 5. The second is the relevance score, which should also range from 1 to 5. Below are the criteria for each scoring category.\n"
    "                            ##ACCURACY Scoring Criteria: \n"
    "                            Evaluate the respondent's answer against specific scoring points as follows:\n"
    "                            Score 1: The response completely misses the scoring point.\n"
    "                            Score 3: The response mentions content related to the scoring point but is not entirely correct.\n"
    "                            Score 5: The response accurately addresses the scoring point.\n"
    "                            Calculate the average score across all scoring points to determine the final accuracy score.\n"
    "                            ##RELEVANCE Scoring Criteria:\n"
    "                            Assess how the respondent's answer relates to the original question:\n"
    "                            Score 1: The response is completely off-topic from the question.\n"
    "                            Score 2: The response is partially related to the question but contains a significant amount of irrelevant content.\n"
    "                            Score 3: The response primarily addresses the question, but the respondent seems uncertain about their own answer.\n"
    "                            Score 4: The response mostly addresses the question and the respondent appears confident in their answer.\n"
    "                            Score 5: The response is fully focused on addressing the question with no irrelevant content and demonstrates complete certainty.\n"
    "                            ----\n"
    "                            ##INSTRUCTION:\n"
    "                            1. Evaluate Accuracy: First, assess and score each scoring point based on the respondent's answer. Calculate the average of these scores to establish the final accuracy score. Provide a detailed rationale before assigning your score.\n"
    "                            2. Evaluate RELEVANCE: Assess the relevance of the respondent’s answer to the question. Note that when evaluating relevance, the correctness of the answer is not considered; focus solely on how relevant the answer is to the question. Provide a comprehensive rationale before assigning your score.\n"
    "                            3. Output Scores in JSON Format: Present the scores in JSON format as follows:\n"
    "                            {'score_accuracy': score_acc, 'score_relevance': score_rele, 'total_score': score_acc + score_rele}\n"
    "                        "
)

SSC_USER = (
    "\n"
    "                            Please score the respondent's answer according to the steps in the Instructions. You must end with a JSON dict to store the scores.\n"
    "                            Question: {question}\n"
    "                            Scoring Points: {scoring_points}\n"
    "                            Respondent's Answer: {pred}\n"
    "                        "
)

VS_SYSTEM = (
    "\n"
    "                            ##TASK DESCRIPTION: \n"
    "                            You are required to evaluate the performance of the respondent in the video summarization task based on the standard answer and the respondent's answer. You should provide two scores. The first is the COMPLETENESS score, which should range from 1 to 5. The second is the RELIABILITY score, which should also range from 1 to 5. Below are the criteria for each scoring category:\n"
    "                            ##COMPLETENESS Scoring Criteria:\n"
    "                            The completeness score focuses on whether the summary covers all key points and main information from the video. \n"
    "                            Score 1: The summary hardly covers any of the main content or key points of the video.\n"
    "                            Score 2: The summary covers some of the main content and key points but misses many.\n"
    "                            Score 3: The summary covers most of the main content and key points.\n"
    "                            Score 4: The summary is very comprehensive, covering most to nearly all of the main content and key points.\n"
    "                            Score 5: The summary completely covers all the main content and key points of the video.\n"
    "                            ##RELIABILITY Scoring Criteria:\n"
    "                            The reliability score evaluates the correctness and clarity of the video summary. It checks for factual errors, misleading statements, and contradictions with the video content. If the respondent's answer includes details that are not present in the standard answer, as long as these details do not conflict with the correct answer and are reasonable, points should not be deducted.\n"
    "                            Score 1: Contains multiple factual errors and contradictions; presentation is confusing.\n"
    "                            Score 2: Includes several errors and some contradictions; needs clearer presentation.\n"
    "                            Score 3: Generally accurate with minor errors; minimal contradictions; reasonably clear presentation.\n"
    "                            Score 4: Very accurate with negligible inaccuracies; no contradictions; clear and fluent presentation.\n"
    "                            Score 5: Completely accurate with no errors or contradictions; presentation is clear and easy to understand.\n"
    "                            ----\n"
    "                            ##INSTRUCTION:\n"
    "                            1. Evaluate COMPLETENESS: First, analyze the respondent's answer according to the scoring criteria, then provide an integer score between 1 and 5 based on sufficient evidence. \n"
    "                            2. Evaluate RELIABILITY: First, analyze the respondent's answer according to the scoring criteria, then provide an integer score between 1 and 5 based on sufficient evidence. \n"
    "                            3. Output Scores in JSON Format: Present the scores in JSON format as follows:\n"
    "                            {'score_completeness': score_comp, 'score_reliability': score_reli, 'total_score': score_comp + score_reli}\n"
    "                        "
)

VS_USER = (
    "\n"
    "                            Please score the respondent's answer according to the steps in the Instructions. You must end with a JSON dict to store the scores.\n"
    "                            Standard Answer: {answer}\n"
    "                            Respondent's Answer: {pred}\n"
    "                        "
)
